package server

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// The stored health word (#15, migration 0013): hosts.health is the
// health the evaluator last computed for the host, so that filtering the
// host list by health and counting hosts per health are index reads
// instead of evaluating the whole fleet per request. Health depends on
// the clock (overdue, offline past a threshold) and on cron schedules, so
// SQL cannot derive it; it is refreshed
//   - for every host at start and on every CheckHealth (each minute), which
//     catches what time alone changes;
//   - for the hosts whose jobs, presence or configuration changed, within
//     healthStoreEvery of the change (runHealthStore, fed by the bus).
// A page filtered by health may thus hold a host whose live health (shown
// on its row) moved on a moment ago; docs/DECISIONS.md says why that is
// the trade.

// healthStoreEvery is how often the hosts whose health may have changed
// are evaluated again; healthStoreBatch bounds one round (a reconnect
// storm marks thousands at once; the rest wait for the next round).
const (
	healthStoreEvery = 2 * time.Second
	healthStoreBatch = 1000
)

// runHealthStore keeps hosts.health current for the hosts that events
// name, until ctx ends. A lost event (the bus dropped some) makes the next
// round refresh every host.
func (s *Service) runHealthStore(ctx context.Context) {
	events, unsubscribe := s.events.Subscribe()
	defer unsubscribe()
	if err := s.storeHealth(ctx, nil); err != nil && ctx.Err() == nil {
		s.log.Error("health: store", "err", err)
	}
	t := time.NewTicker(healthStoreEvery)
	defer t.Stop()
	dirty, all := map[string]bool{}, false
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch {
			case ev.Kind == EventResync:
				all = true
			case ev.HostID != "" && healthMoves(ev.Kind):
				dirty[ev.HostID] = true
			}
		case <-t.C:
			if !all && len(dirty) == 0 {
				continue
			}
			var ids []string // nil: every host
			if !all {
				ids = slices.Sorted(maps.Keys(dirty))
				ids = ids[:min(len(ids), healthStoreBatch)]
			}
			if err := s.storeHealth(ctx, ids); err != nil {
				if ctx.Err() == nil {
					s.log.Error("health: store", "err", err)
				}
				continue // kept dirty: tried again next round
			}
			if all {
				clear(dirty)
			}
			for _, id := range ids {
				delete(dirty, id)
			}
			all = false
		}
	}
}

// healthMoves reports whether an event of kind may change its host's health.
func healthMoves(kind string) bool {
	switch kind {
	case EventJobUpdated, EventHostPresence, EventConfigChanged, EventHostUpdated, EventHostCreated:
		return true
	}
	return false
}

// storeHealth evaluates the health of ids (nil: every active host) and
// writes the word of those whose stored one differs.
func (s *Service) storeHealth(ctx context.Context, ids []string) error {
	var hosts []Host
	var err error
	if ids == nil {
		hosts, err = s.ListHosts(ctx)
	} else {
		hosts, err = s.ListHostsByID(ctx, ids)
	}
	if err != nil {
		return err
	}
	return s.writeHealth(ctx, hosts)
}

// writeHealth stores the Health of hosts where it differs from the row's
// (one read, then one UPDATE per changed host, in one transaction).
func (s *Service) writeHealth(ctx context.Context, hosts []Host) error {
	if len(hosts) == 0 {
		return nil
	}
	ids := make([]string, len(hosts))
	for i := range hosts {
		ids[i] = hosts[i].ID
	}
	var stored []struct {
		ID     string      `db:"id"`
		Health HealthState `db:"health"`
	}
	scope, args := hostScope(ids)
	if len(ids) > healthStoreBatch {
		scope, args = hostScope(nil) // one scan, not thousands of parameters
	}
	if err := s.db.SelectContext(ctx, &stored, `SELECT h.id, h.health FROM hosts h WHERE `+scope, args...); err != nil {
		return internal("Could not read the hosts' stored health", err)
	}
	was := make(map[string]HealthState, len(stored))
	for _, r := range stored {
		was[r.ID] = r.Health
	}
	var changed []Host
	for _, h := range hosts {
		if w, ok := was[h.ID]; ok && w != h.Health {
			changed = append(changed, h)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		st, err := tx.PreparexContext(ctx, `UPDATE hosts SET health = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, h := range changed {
			if _, err := st.ExecContext(ctx, string(h.Health), h.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return txError("Could not store the hosts' health", err)
	}
	// Pages filtered by health re-read themselves; many changes at once
	// (the first pass after an upgrade) are one event, not thousands.
	if len(changed) > healthEventsMax {
		s.events.Publish(Event{Kind: EventHostHealth})
		return nil
	}
	for _, h := range changed {
		s.events.Publish(Event{Kind: EventHostHealth, HostID: h.ID})
	}
	return nil
}

// healthEventsMax is how many hosts' health changes are announced one by
// one; past it, one event says that many changed.
const healthEventsMax = 100
