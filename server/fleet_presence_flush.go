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
		hp := p.hosts[id] // marked only with its presence there (forget drops both; requeue checks)
		rows = append(rows, presenceRow{id: id, hp: *hp, changed: changed})
		hp.hello = nil
	}
	clear(p.dirty)
	pub, external := p.pub, p.external
	p.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	var moved []presenceRow
	err := p.s.db.inBackgroundTx(ctx, func(tx *sqlx.Tx) error {
		w, err := preparePresenceWriter(ctx, tx, external)
		if err != nil {
			return err
		}
		defer w.close()
		moved = moved[:0]
		for _, r := range rows {
			changed, err := w.write(ctx, r)
			if err != nil {
				return err
			}
			if changed {
				moved = append(moved, r)
			}
		}
		return nil
	})
	if err != nil {
		p.requeue(rows)
		return err
	}
	if pub != nil && !p.isStopping() {
		p.publishChanged(ctx, pub, moved)
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
		hp := p.hosts[r.id]
		if hp == nil { // revoked while the flush ran: its row is gone, not owed a write
			continue
		}
		p.dirty[r.id] = p.dirty[r.id] || r.changed
		if hp.hello == nil {
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

// With an external broker several replicas flush the same hosts, each from
// what it observed (ingest_replicas.go). A replica behind — still on a
// host's older connection, or with a flush that read its memory before a
// newer hello arrived — must not write over a newer connection's row:
// every statement is guarded by the connection (conn_gen) it speaks of,
// and a revoked host is left alone. presenceMove changes only the online
// flag, and only if it differs: it tells which replica's flush changed
// the store, the one that tells the monitor feed (one host.online event,
// not one per replica).
const (
	presenceGuard = ` AND conn_gen <= ? AND revoked_at IS NULL`
	presenceMove  = `UPDATE hosts SET online = ? WHERE id = ? AND online <> ?` + presenceGuard
)

// presenceWriter is a flush's prepared statements: prepared once per
// flush, as a reconnect storm writes thousands of rows in one.
type presenceWriter struct {
	seen, hello, move *sqlx.Stmt // move: nil without an external broker
}

func preparePresenceWriter(ctx context.Context, tx *sqlx.Tx, external bool) (*presenceWriter, error) {
	guard := ""
	if external {
		guard = presenceGuard
	}
	w := &presenceWriter{}
	var err error
	if w.seen, err = tx.PreparexContext(ctx, presenceUpdate+guard); err == nil {
		if w.hello, err = tx.PreparexContext(ctx, presenceHelloUpdate+guard); err == nil && external {
			w.move, err = tx.PreparexContext(ctx, presenceMove)
		}
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *presenceWriter) close() {
	for _, st := range []*sqlx.Stmt{w.seen, w.hello, w.move} {
		if st != nil {
			st.Close()
		}
	}
}

// write stores one host's presence and says whether its online state
// changed: with an external broker, whether this write changed the store;
// otherwise whether the host's state changed since the last flush.
func (w *presenceWriter) write(ctx context.Context, r presenceRow) (changed bool, err error) {
	var guard, helloGuard []any
	changed = r.changed
	if w.move != nil {
		guard = []any{r.hp.conn}
		if r.hp.hello != nil {
			// A hello speaks of its own connection, which may be older than
			// the one a later heartbeat named.
			helloGuard = []any{r.hp.hello.ConnGen}
		}
		res, err := w.move.ExecContext(ctx, r.hp.online, r.id, r.hp.online, r.hp.conn)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		changed = n > 0
	}
	var lastSeen, connectedAt *time.Time
	if !r.hp.lastSeen.IsZero() {
		lastSeen = &r.hp.lastSeen
	}
	if !r.hp.connectedAt.IsZero() {
		connectedAt = &r.hp.connectedAt
	}
	if _, err := w.seen.ExecContext(ctx, append([]any{r.hp.online, lastSeen, connectedAt, r.hp.remote, r.hp.remote, r.id}, guard...)...); err != nil || r.hp.hello == nil {
		return changed, err
	}
	m := r.hp.hello
	_, err = w.hello.ExecContext(ctx, append([]any{m.Hostname, m.OS, m.Arch, m.AgentVersion, m.ResticVersion, m.BootID, m.ConnGen, r.id}, helloGuard...)...)
	return changed, err
}
