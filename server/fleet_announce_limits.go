package server

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Announce limits with an external broker (#15, docs/replicas.md). Several
// replicas may share the broker, and an agent's bootstrap request (HTTPS,
// through the load balancer) and its hello (MQTT, through the shared
// subscription) may reach different ones. So what the limits count lives
// in the store: the pending clients provisioned on the broker, with the
// address each bootstrap came from (pending_clients: the caps in all and
// per address, and the address a hello on any replica is from), and the
// per-address announce counters (announce_rates: one row per kind and
// address, counting the requests of the minute from its first one, as the
// in-memory throttle does). With the embedded broker there is one
// process: the counters stay in memory and no client is provisioned.

// Kinds of announce counted per address and minute.
const (
	rateHello     = "hello"
	rateBootstrap = "bootstrap"
)

// allowAnnounce counts one announce of kind from addr and reports whether
// it is within HellosPerAddrPerMinute: in t with the embedded broker, in
// the store with an external one, over the minute from the address's first
// request (a window that starts then, not on the clock's minute: a burst
// across a minute's turn gets no double share). An error is the store's,
// not the agent's.
func (s *Service) allowAnnounce(ctx context.Context, kind string, t *throttle, addr string) (bool, error) {
	if s.provisioner() == nil {
		return t.allow(addr), nil
	}
	now := s.now()
	ended := now.Add(-time.Minute) // a window that started by then is over
	var n int
	err := s.db.w.GetContext(ctx, &n, `INSERT INTO announce_rates (kind, source_addr, window_start, n) VALUES (?, ?, ?, 1)
		ON CONFLICT (kind, source_addr) DO UPDATE SET
			n = CASE WHEN announce_rates.window_start <= ? THEN 1 ELSE announce_rates.n + 1 END,
			window_start = CASE WHEN announce_rates.window_start <= ? THEN excluded.window_start ELSE announce_rates.window_start END
		RETURNING n`, kind, addr, now, ended, ended)
	if err != nil {
		return false, fmt.Errorf("announce: count a %s from %s: %w", kind, addr, err)
	}
	return n <= s.ann.opts.HellosPerAddrPerMinute, nil
}

// reservePendingClient records client as provisioned from addr until
// expires, or says which cap it would exceed ("" when it fits). A client
// provisioned already only has its expiry and address renewed. One write
// transaction: two replicas never both take the last place.
func (s *Service) reservePendingClient(ctx context.Context, client, addr string, expires, now time.Time) (refusal string, err error) {
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		refusal = ""
		var known int
		if err := tx.GetContext(ctx, &known, `SELECT COUNT(*) FROM pending_clients WHERE client_id = ? AND expires_at > ?`, client, now); err != nil {
			return err
		}
		if known == 0 {
			var c struct {
				Total    int `db:"total"`
				FromAddr int `db:"from_addr"`
			}
			if err := tx.GetContext(ctx, &c, `SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN source_addr = ? THEN 1 ELSE 0 END), 0) AS from_addr
				FROM pending_clients WHERE expires_at > ?`, addr, now); err != nil {
				return err
			}
			switch {
			case c.FromAddr >= s.ann.opts.MaxPendingPerAddr:
				refusal = fmt.Sprintf("from this address (limit %d)", s.ann.opts.MaxPendingPerAddr)
				return nil
			case c.Total >= s.ann.opts.MaxPending:
				refusal = fmt.Sprintf("(limit %d)", s.ann.opts.MaxPending)
				return nil
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pending_clients (client_id, source_addr, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (client_id) DO UPDATE SET source_addr = excluded.source_addr, expires_at = excluded.expires_at`, client, addr, expires)
		return err
	})
	return refusal, err
}

// pendingClientAddr is the address the bootstrap of a provisioned client
// came from, on whichever replica it was answered; unknownAddr when none
// is recorded.
func (s *Service) pendingClientAddr(ctx context.Context, client string) string {
	var addr string
	err := s.db.GetContext(ctx, &addr, `SELECT source_addr FROM pending_clients WHERE client_id = ? AND expires_at > ?`, client, s.now())
	if err != nil {
		if !isNoRows(err) {
			s.log.Warn("announce: read a pending client's address", "client", client, "err", err)
		}
		return unknownAddr
	}
	return addr
}

// forgetPendingClients drops clients from the provisioned ones.
func (s *Service) forgetPendingClients(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`DELETE FROM pending_clients WHERE client_id IN (?)`, ids)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(q), args...)
	return err
}

// learnPendingClients adds the broker's pending clients the store does not
// know, with their expiry (the zero time, for one without, expires at
// once) and no address.
func (s *Service) learnPendingClients(ctx context.Context, list map[string]time.Time) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		for id, at := range list {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pending_clients (client_id, source_addr, expires_at) VALUES (?, ?, ?)
				ON CONFLICT (client_id) DO NOTHING`, id, unknownAddr, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// takeExpiredPendingClients deletes the provisioned clients whose time is
// up and returns them: each to one replica's sweep, which deletes them from
// the broker.
func (s *Service) takeExpiredPendingClients(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &ids, `DELETE FROM pending_clients WHERE expires_at <= ? RETURNING client_id`, now)
	})
	return ids, err
}

// pruneAnnounceRates deletes the counters of windows that ended.
func pruneAnnounceRates(ctx context.Context, tx *sqlx.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM announce_rates WHERE window_start <= ?`, now.Add(-time.Minute))
	return err
}
