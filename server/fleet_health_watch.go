package server

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// The health evaluator (#13): every HealthCheckEvery it computes every
// host's health and publishes one event per host that entered or left
// "overdue" (EventHostOverdue) or "offline past its threshold"
// (EventHostOffline). What it published last is kept in the host's row
// (overdue_since, offline_alert_since), so a restart neither repeats a
// transition nor loses one that happened while the server was down.

// HealthCheckEvery is how often the evaluator runs.
const HealthCheckEvery = time.Minute

func (s *Service) runHealthWatch(ctx context.Context) {
	stored := make(chan struct{})
	go func() { defer close(stored); s.runHealthStore(ctx) }() // fleet_health_store.go
	defer func() { <-stored }()
	t := time.NewTicker(HealthCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.CheckHealth(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("health: check", "err", err)
		}
	}
}

// CheckHealth evaluates every host once and publishes the transitions
// since the last check (see the file's comment). Run calls it every
// HealthCheckEvery; tests call it with their own clock.
func (s *Service) CheckHealth(ctx context.Context) error {
	hosts, err := s.ListHosts(ctx)
	if err != nil {
		return err
	}
	if err := s.writeHealth(ctx, hosts); err != nil { // the list's health filter (fleet_health_store.go)
		return err
	}
	var marks []struct {
		ID           string     `db:"id"`
		OverdueSince *time.Time `db:"overdue_since"`
		OfflineSince *time.Time `db:"offline_alert_since"`
	}
	if err := s.db.SelectContext(ctx, &marks, `SELECT id, overdue_since, offline_alert_since FROM hosts WHERE revoked_at IS NULL`); err != nil {
		return internal("Could not read the hosts' health marks", err)
	}
	type mark struct{ overdue, offline bool }
	was := make(map[string]mark, len(marks))
	for _, m := range marks {
		was[m.ID] = mark{m.OverdueSince != nil, m.OfflineSince != nil}
	}
	now := s.now()
	var events []Event
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		events = events[:0]
		for i := range hosts {
			h := &hosts[i]
			w, known := was[h.ID]
			if !known {
				continue // revoked since the list was read
			}
			if h.Overdue != w.overdue {
				if changed, err := setHealthMark(ctx, tx, "overdue_since", h.ID, h.Overdue, now); err != nil {
					return err
				} else if changed {
					events = append(events, healthEvent(EventHostOverdue, h))
				}
			}
			if h.OfflineAlert != w.offline {
				if changed, err := setHealthMark(ctx, tx, "offline_alert_since", h.ID, h.OfflineAlert, now); err != nil {
					return err
				} else if changed {
					events = append(events, healthEvent(EventHostOffline, h))
				}
			}
		}
		return nil
	})
	if err != nil {
		return txError("Could not store the hosts' health", err)
	}
	for _, e := range events {
		s.log.Info("host health changed", "event", e.Kind, "host", e.HostID, "overdue", e.Health.Overdue,
			"offline_alert", e.Health.OfflineAlert, "health", e.Health.Health)
		s.events.Publish(e)
	}
	return nil
}

func healthEvent(kind string, h *Host) Event {
	return Event{Kind: kind, HostID: h.ID, Health: &HealthChange{HostName: h.Name, HostHealth: h.HostHealth}}
}

// setHealthMark sets (on) or clears one of the two columns that remember
// what the evaluator published. It changes the row only if the mark is
// not so already, and reports whether it did: of two checks that overlap,
// one publishes the transition.
func setHealthMark(ctx context.Context, tx *sqlx.Tx, column, hostID string, on bool, now time.Time) (bool, error) {
	var at *time.Time
	if on {
		at = &now
	}
	var q string
	switch column {
	case "overdue_since":
		q = `UPDATE hosts SET overdue_since = ? WHERE id = ? AND (overdue_since IS NULL) = ?`
	default:
		q = `UPDATE hosts SET offline_alert_since = ? WHERE id = ? AND (offline_alert_since IS NULL) = ?`
	}
	res, err := tx.ExecContext(ctx, q, at, hostID, on)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
