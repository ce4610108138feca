package server

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// The announce queue (#9 point 5). Anyone who can reach the broker may
// announce, so the rows waiting for an admin are capped
// (AnnounceOptions.MaxPending). A cap that simply refuses newcomers lets a
// flood from a few addresses lock real machines out until the flood's rows
// expire, so the queue makes room instead:
//
//   - an address holding its share of the queue (MaxPendingPerAddr) that
//     announces a new machine replaces its own longest-unseen row: it never
//     takes another address's room;
//   - a full queue drops the longest-unseen row of the address holding the
//     most rows. With equal shares that is simply the longest-unseen row; a
//     lone machine from its own address is dropped only once no address
//     holds more than it does, so a flood that keeps announcing evicts
//     itself first.
//
// Only rows in state pending are counted and dropped. An accepted row holds
// credentials its agent has not collected yet: dropping it would strand an
// approved machine. A rejected row is what keeps a rejected key out for its
// TTL: dropping it would let that key straight back in. Neither kind counts
// against the cap, and both are made only by an admin, one decision each.
//
// A dropped machine is not told. A waiting agent announces again every 15
// minutes and on every reconnect, and gets a new row then; a "rejected"
// answer would make a real machine that a flood pushed out give up.

// PendingQueue is the announce queue as the dashboard and the API show it.
type PendingQueue struct {
	// Hosts are the machines waiting, longest waiting first.
	Hosts []PendingHost
	// Cap is MaxPending; PerAddress one source address's share of it.
	Cap, PerAddress int
	// Evicted counts rows dropped because the queue was full, Replaced
	// rows an address replaced with its own newer announces, both since
	// the server started.
	Evicted, Replaced uint64
}

// Full reports whether the queue is at its cap: the next new machine
// pushes out a waiting one.
func (q PendingQueue) Full() bool { return len(q.Hosts) >= q.Cap }

// PendingQueue returns the machines waiting for an admin and the state of
// the queue they wait in.
func (s *Service) PendingQueue(ctx context.Context) (PendingQueue, error) {
	list, err := s.ListPendingHosts(ctx)
	if err != nil {
		return PendingQueue{}, err
	}
	return PendingQueue{Hosts: list, Cap: s.ann.opts.MaxPending, PerAddress: s.ann.opts.MaxPendingPerAddr,
		Evicted: s.ann.evicted.Load(), Replaced: s.ann.replaced.Load()}, nil
}

// roomMade is what makeRoom dropped.
type roomMade struct {
	replaced, evicted []int64
}

// makeRoom drops waiting rows so that a new machine from addr fits: addr's
// own longest-unseen rows down to one below its share, then, if the queue
// is still full, rows of the biggest holders, longest-unseen first. It runs
// in the transaction that inserts the new row.
func (s *Service) makeRoom(ctx context.Context, tx *sqlx.Tx, addr string, now time.Time) (roomMade, error) {
	var made roomMade
	var own int
	if err := tx.GetContext(ctx, &own, `SELECT COUNT(*) FROM pending_hosts WHERE state = ? AND expires_at > ? AND source_addr = ?`,
		PendingStatePending, now, addr); err != nil {
		return made, err
	}
	if n := own - s.ann.opts.MaxPendingPerAddr + 1; n > 0 {
		if err := tx.SelectContext(ctx, &made.replaced, `SELECT id FROM pending_hosts WHERE state = ? AND expires_at > ? AND source_addr = ?
			ORDER BY last_seen, id LIMIT ?`, PendingStatePending, now, addr, n); err != nil {
			return made, err
		}
		if err := deletePendingRows(ctx, tx, made.replaced); err != nil {
			return made, err
		}
	}
	var waiting int
	if err := tx.GetContext(ctx, &waiting, `SELECT COUNT(*) FROM pending_hosts WHERE state = ? AND expires_at > ?`,
		PendingStatePending, now); err != nil {
		return made, err
	}
	if n := waiting - s.ann.opts.MaxPending + 1; n > 0 {
		if err := tx.SelectContext(ctx, &made.evicted, `WITH w AS (SELECT id, source_addr, last_seen FROM pending_hosts
				WHERE state = ? AND expires_at > ?),
			c AS (SELECT source_addr, COUNT(*) AS n FROM w GROUP BY source_addr)
			SELECT w.id FROM w JOIN c ON c.source_addr = w.source_addr ORDER BY c.n DESC, w.last_seen, w.id LIMIT ?`,
			PendingStatePending, now, n); err != nil {
			return made, err
		}
		if err := deletePendingRows(ctx, tx, made.evicted); err != nil {
			return made, err
		}
	}
	return made, nil
}

// deletePendingRows deletes the rows with these IDs.
func deletePendingRows(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`DELETE FROM pending_hosts WHERE id IN (?)`, ids)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(q), args...)
	return err
}

// roomMadeFor counts and logs what makeRoom dropped for client, once its
// transaction has committed.
func (s *Service) roomMadeFor(client, addr string, made roomMade) {
	if len(made.replaced) > 0 {
		s.ann.replaced.Add(uint64(len(made.replaced)))
		s.log.Warn("announce: an address at its share of the pending queue replaced its own longest-unseen machine",
			"client", client, "remote", addr, "dropped", made.replaced, "share", s.ann.opts.MaxPendingPerAddr)
	}
	if len(made.evicted) > 0 {
		s.ann.evicted.Add(uint64(len(made.evicted)))
		s.log.Warn("announce: pending queue full; dropped the longest-unseen machine of the biggest address",
			"client", client, "remote", addr, "dropped", made.evicted, "max", s.ann.opts.MaxPending)
	}
}
