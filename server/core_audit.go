package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID         int64     `db:"id" json:"id"`
	At         time.Time `db:"at" json:"at"`
	Actor      string    `db:"actor" json:"actor"`
	Role       string    `db:"role" json:"role"`
	RemoteAddr string    `db:"remote_addr" json:"remote_addr"`
	Via        string    `db:"via" json:"via"`
	Action     string    `db:"action" json:"action"`
	Target     string    `db:"target" json:"target"`
	Details    string    `db:"details" json:"details"`
}

// AuditFilter selects audit rows, newest first.
type AuditFilter struct {
	Actor  string
	Action string
	Limit  int   // default 100, at most 1000
	Before int64 // rows with id < Before (paging); 0 = from the newest
}

// audit writes one audit row inside tx. details must never hold a secret:
// callers pass names, IDs and settings only.
func (s *Service) audit(ctx context.Context, tx *sqlx.Tx, a Actor, action, target string, details map[string]any) error {
	d := "{}"
	if len(details) > 0 {
		b, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("audit: encode details: %w", err)
		}
		d = string(b)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, role, remote_addr, via, action, target, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.now(), a.Name, string(a.Role), a.RemoteAddr, a.Via, action, target, d)
	if err != nil {
		return fmt.Errorf("audit: insert %s: %w", action, err)
	}
	return nil
}

// ListAudit returns audit rows matching f, newest first.
func (s *Service) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		f.Limit = 1000
	}
	q := `SELECT id, at, actor, role, remote_addr, via, action, target, details FROM audit_log WHERE 1=1`
	var args []any
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		q += ` AND action ` + s.db.dialect.likeOp() + ` ? ESCAPE '\'`
		args = append(args, likePrefix(f.Action))
	}
	if f.Before > 0 {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	var out []AuditEntry
	if err := s.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, internal("Could not read the audit log", err)
	}
	return out, nil
}

// likePrefix turns user text into a LIKE pattern matching it as a prefix.
func likePrefix(s string) string {
	r := make([]rune, 0, len(s)+1)
	for _, c := range s {
		if c == '%' || c == '_' || c == '\\' {
			r = append(r, '\\')
		}
		r = append(r, c)
	}
	return string(r) + "%"
}
