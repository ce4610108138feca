package server

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"
)

// getSetting reads a settings row, opening it when sealed. ok is false when absent.
func (s *Service) getSetting(ctx context.Context, key string) (value []byte, ok bool, err error) {
	var row struct {
		Value  []byte `db:"value"`
		Sealed bool   `db:"sealed"`
	}
	err = s.db.GetContext(ctx, &row, `SELECT value, sealed FROM settings WHERE key = ?`, key)
	if err == sql.ErrNoRows {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !row.Sealed {
		return row.Value, true, nil
	}
	v, err := s.box.Open(row.Value, "settings:"+key)
	return v, err == nil, err
}

// putSetting writes a settings row, sealing it with the master key when sealed.
func (s *Service) putSetting(ctx context.Context, key string, value []byte, sealed bool) error {
	if sealed {
		value = s.box.Seal(value, "settings:"+key)
	}
	return writeSetting(ctx, s.db, key, value, sealed)
}

// writeSetting writes a settings row as it is given, in ex (the store or a
// seam's transaction: a setting may change with what it governs).
func writeSetting(ctx context.Context, ex sqlx.ExecerContext, key string, value []byte, sealed bool) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO settings (key, value, sealed) VALUES (?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, sealed = excluded.sealed`, key, value, sealed)
	return err
}

// bumpSetting adds one to a counter kept in settings (1 when absent), in ex.
func bumpSetting(ctx context.Context, ex sqlx.ExecerContext, key string) error {
	d := dialectOf(ex)
	_, err := ex.ExecContext(ctx, `INSERT INTO settings (key, value, sealed) VALUES (?, `+d.intBlob(`1`)+`, 0)
		ON CONFLICT(key) DO UPDATE SET value = `+d.intBlob(d.blobInt(`settings.value`)+` + 1`), key)
	return err
}
