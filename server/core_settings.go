package server

import (
	"context"
	"database/sql"
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
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value, sealed) VALUES (?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, sealed = excluded.sealed`, key, value, sealed)
	return err
}
