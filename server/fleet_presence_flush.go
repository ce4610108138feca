package server

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

type presenceRow struct {
	id      string
	hp      hostPresence
	changed bool
}

// Flush writes pending presence changes in one transaction and publishes the
// monitor state of hosts whose online state changed.
func (p *Presence) Flush(ctx context.Context) error {
	p.mu.Lock()
	rows := make([]presenceRow, 0, len(p.dirty))
	for id, changed := range p.dirty {
		hp := p.hosts[id]
		rows = append(rows, presenceRow{id: id, hp: *hp, changed: changed})
		hp.hello = nil
	}
	clear(p.dirty)
	pub := p.pub
	p.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	err := p.s.db.inBackgroundTx(ctx, func(tx *sqlx.Tx) error {
		// Prepared once per flush: a reconnect storm writes thousands of
		// rows in one.
		seen, err := tx.PreparexContext(ctx, presenceUpdate)
		if err != nil {
			return err
		}
		defer seen.Close()
		hello, err := tx.PreparexContext(ctx, presenceHelloUpdate)
		if err != nil {
			return err
		}
		defer hello.Close()
		for _, r := range rows {
			if err := writePresence(ctx, seen, hello, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		p.requeue(rows)
		return err
	}
	if pub != nil {
		p.publishChanged(ctx, pub, rows)
	}
	return nil
}

// requeue marks the rows of a failed flush dirty again, so the next flush
// writes them (with what changed since) instead of the store keeping the
// old presence until the host's next change.
func (p *Presence) requeue(rows []presenceRow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rows {
		p.dirty[r.id] = p.dirty[r.id] || r.changed
		if hp := p.hosts[r.id]; hp != nil && hp.hello == nil {
			hp.hello = r.hp.hello
		}
	}
}

// presenceUpdate and presenceHelloUpdate write a host's presence, and what
// its hello said.
const (
	presenceUpdate = `UPDATE hosts SET online = ?, last_seen = COALESCE(?, last_seen),
		connected_at = COALESCE(?, connected_at), remote_addr = CASE WHEN ? = '' THEN remote_addr ELSE ? END WHERE id = ?`
	presenceHelloUpdate = `UPDATE hosts SET hostname = ?, os = ?, arch = ?, agent_version = ?, restic_version = ?,
		boot_id = ?, conn_gen = ? WHERE id = ?`
)

func writePresence(ctx context.Context, seen, hello *sqlx.Stmt, r presenceRow) error {
	var lastSeen, connectedAt *time.Time
	if !r.hp.lastSeen.IsZero() {
		lastSeen = &r.hp.lastSeen
	}
	if !r.hp.connectedAt.IsZero() {
		connectedAt = &r.hp.connectedAt
	}
	_, err := seen.ExecContext(ctx, r.hp.online, lastSeen, connectedAt, r.hp.remote, r.hp.remote, r.id)
	if err != nil || r.hp.hello == nil {
		return err
	}
	m := r.hp.hello
	_, err = hello.ExecContext(ctx, m.Hostname, m.OS, m.Arch, m.AgentVersion, m.ResticVersion, m.BootID, m.ConnGen, r.id)
	return err
}
