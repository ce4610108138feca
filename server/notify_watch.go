package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// watchNotifyEvents turns bus events into notifications: a host that
// became overdue or offline past its threshold (fleet_health_watch.go), a
// machine waiting for approval; job events only wake the worker (their
// notifications are already in the outbox, written with the job's state).
// It runs on the leader (core_cluster.go); when it starts (this replica
// took the lease) it first queues what the store says is still untold: a
// health transition stored while no replica's watch was listening (a
// failover, a leader that lost its lease between the transition and its
// notice) is told by the next leader.
func (s *Service) watchNotifyEvents(ctx context.Context) {
	events, stop := s.events.Subscribe()
	defer stop()
	s.notifyPendingHosts(ctx)
	s.notifyUntoldHealth(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			var err error
			switch e.Kind {
			case EventJobUpdated:
				s.wakeNotifier()
			case EventPendingChanged:
				s.notifyPendingHosts(ctx)
			case EventResync:
				s.notifyPendingHosts(ctx)
				s.notifyUntoldHealth(ctx)
			case EventHostOverdue, EventHostOffline:
				err = s.notifyHealth(ctx, e)
			}
			if err != nil && ctx.Err() == nil {
				s.log.Error("notify: queue", "event", e.Kind, "host", e.HostID, "err", err)
			}
		}
	}
}

// notifyHealth queues host.overdue or host.offline when a host enters the
// state (leaving it says nothing), once per stored transition: the host's
// row says which transition was told (healthNotices), in the transaction
// that queues the notice.
func (s *Service) notifyHealth(ctx context.Context, e Event) error {
	h := e.Health
	if h == nil {
		return nil
	}
	p, ok := s.healthNotice(e.Kind, e.HostID, h)
	if !ok {
		return nil
	}
	told := healthNotices[e.Kind]
	return s.queueNotificationIf(ctx, p, func(tx *sqlx.Tx) (bool, error) {
		// The transition's mark is marked told; an event with no stored
		// mark behind it is queued as it is.
		var done int
		if err := tx.GetContext(ctx, &done, `SELECT COUNT(*) FROM hosts WHERE id = ? AND `+told.mark+` IS NOT NULL
			AND `+told.told+` = `+told.mark, e.HostID); err != nil || done == 1 {
			return false, err // told already (this event came twice, or a leader's catch-up told it)
		}
		_, err := tx.ExecContext(ctx, told.tell, e.HostID)
		return err == nil, err
	})
}

// healthNotice is a health transition's notification, if it is one that
// says something (a host entering the state).
func (s *Service) healthNotice(kind, hostID string, h *HealthChange) (NotificationPayload, bool) {
	p := NotificationPayload{At: s.now(), Host: &NotifyHost{ID: hostID, Name: h.HostName}, Link: "/hosts/" + hostID}
	switch {
	case kind == EventHostOverdue && h.Overdue:
		p.Event = NotifyHostOverdue
		p.Message = fmt.Sprintf("%s is overdue: no successful backup for longer than %s.", h.HostName,
			time.Duration(h.OverdueAfterSeconds)*time.Second)
		if h.LastSuccessAt != nil {
			p.Message = fmt.Sprintf("%s is overdue: its last successful backup finished %s.", h.HostName,
				h.LastSuccessAt.UTC().Format(time.RFC3339))
		}
	case kind == EventHostOffline && h.OfflineAlert:
		p.Event = NotifyHostOffline
		p.Message = fmt.Sprintf("%s has been offline for longer than %s.", h.HostName,
			time.Duration(h.OfflineAlertAfterSeconds)*time.Second)
	default:
		return p, false
	}
	return p, true
}

// healthNotices names, per health event, the host's column that marks the
// transition (set by CheckHealth, fleet_health_watch.go) and the one that
// says which mark was told: the mark's time, copied (tell) when its
// notice is queued. A mark whose time differs from the told one is untold.
var healthNotices = map[string]struct{ mark, told, tell string }{
	EventHostOverdue: {"overdue_since", "overdue_told_since", `UPDATE hosts SET overdue_told_since = overdue_since WHERE id = ?`},
	EventHostOffline: {"offline_alert_since", "offline_told_since", `UPDATE hosts SET offline_told_since = offline_alert_since WHERE id = ?`},
}

// notifyUntoldHealth queues the notices of the stored health transitions
// not told yet (at most MaxFleetHosts at once; the rest at the next
// resync or lease), for the hosts still in that state now.
func (s *Service) notifyUntoldHealth(ctx context.Context) {
	for kind, c := range healthNotices {
		var ids []string
		err := s.db.SelectContext(ctx, &ids, `SELECT id FROM hosts WHERE revoked_at IS NULL AND `+c.mark+` IS NOT NULL
			AND (`+c.told+` IS NULL OR `+c.told+` <> `+c.mark+`) ORDER BY id LIMIT ?`, MaxFleetHosts)
		var hosts []Host
		if err == nil {
			hosts, err = s.ListHostsByID(ctx, ids)
		}
		for i := range hosts {
			if err != nil {
				break
			}
			h := &hosts[i]
			err = s.notifyHealth(ctx, healthEvent(kind, h))
		}
		if err != nil && ctx.Err() == nil {
			s.log.Error("notify: untold health transitions", "event", kind, "err", err)
		}
	}
}

// queueNotification enqueues p in a transaction of its own and wakes the worker.
func (s *Service) queueNotification(ctx context.Context, p NotificationPayload) error {
	return s.queueNotificationIf(ctx, p, nil)
}

// queueNotificationIf enqueues p as queueNotification does if first (when
// set) says so in the same transaction; first may write what goes with
// the notice.
func (s *Service) queueNotificationIf(ctx context.Context, p NotificationPayload, first func(tx *sqlx.Tx) (bool, error)) error {
	n := 0
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if first != nil {
			if ok, err := first(tx); !ok || err != nil {
				return err
			}
		}
		var err error
		n, err = s.enqueueNotification(ctx, tx, p)
		return err
	})
	if n > 0 {
		s.wakeNotifier()
	}
	return err
}

// notifyPendingHosts queues host.pending once for each machine waiting for
// approval: the outbox itself remembers which were told (host_id "p:<id>").
func (s *Service) notifyPendingHosts(ctx context.Context) {
	var rows []struct {
		ID       int64  `db:"id"`
		Hostname string `db:"hostname"`
		Addr     string `db:"source_addr"`
	}
	err := s.db.SelectContext(ctx, &rows, `SELECT p.id, p.hostname, p.source_addr FROM pending_hosts p
		WHERE p.state = 'pending' AND p.expires_at > ? AND NOT EXISTS (SELECT 1 FROM notification_deliveries d
		WHERE d.event = 'host.pending' AND d.host_id = 'p:' || p.id) ORDER BY p.id LIMIT 100`, s.now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("notify: pending hosts", "err", err)
		}
		return
	}
	for _, r := range rows {
		p := NotificationPayload{Event: NotifyHostPending, At: s.now(), Link: "/pending-hosts",
			Host:    &NotifyHost{ID: fmt.Sprintf("p:%d", r.ID), Name: r.Hostname},
			Message: fmt.Sprintf("A machine named %s (from %s) waits for approval.", r.Hostname, r.Addr)}
		if err := s.queueNotification(ctx, p); err != nil && ctx.Err() == nil {
			s.log.Error("notify: pending host", "pending", r.ID, "err", err)
		}
	}
}

// sendDigests turns each digest channel's held messages into one summary
// once its hour (UTC) has come since its last digest.
func (s *Service) sendDigests(ctx context.Context) error {
	var chans []struct {
		ID      int64      `db:"id"`
		Hour    int        `db:"digest_hour"`
		Last    *time.Time `db:"last_digest_at"`
		Created time.Time  `db:"created_at"`
	}
	// (COALESCE would lose the columns' TIMESTAMP type, and with it the scan into time.Time.)
	if err := s.db.SelectContext(ctx, &chans, `SELECT id, digest_hour, last_digest_at, created_at
		FROM notification_channels WHERE digest_hour IS NOT NULL AND enabled = 1`); err != nil {
		return fmt.Errorf("load digest channels: %w", err)
	}
	now := s.now()
	for _, c := range chans {
		slot := time.Date(now.Year(), now.Month(), now.Day(), c.Hour, 0, 0, 0, time.UTC)
		if slot.After(now) {
			slot = slot.AddDate(0, 0, -1)
		}
		last := c.Created
		if c.Last != nil {
			last = *c.Last
		}
		if !last.Before(slot) {
			continue
		}
		if err := s.db.inTx(ctx, func(tx *sqlx.Tx) error { return s.digestChannel(ctx, tx, c.ID, now) }); err != nil {
			return err
		}
		s.wakeNotifier()
	}
	return nil
}

// digestChannel writes one digest delivery of the channel's held rows.
func (s *Service) digestChannel(ctx context.Context, tx *sqlx.Tx, channelID int64, now time.Time) error {
	var held []struct {
		Event    string    `db:"event"`
		HostName string    `db:"host_name"`
		Payload  string    `db:"payload"`
		At       time.Time `db:"created_at"`
	}
	if err := tx.SelectContext(ctx, &held, `SELECT event, host_name, payload, created_at FROM notification_deliveries
		WHERE channel_id = ? AND state = 'held' ORDER BY id`, channelID); err != nil {
		return fmt.Errorf("load held deliveries: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notification_channels SET last_digest_at = ? WHERE id = ?`, now, channelID); err != nil {
		return err
	}
	if len(held) == 0 {
		return nil
	}
	p := NotificationPayload{Event: NotifyDigest, At: now, Link: "/",
		Message: fmt.Sprintf("%d notifications since the last digest.", len(held))}
	for _, h := range held {
		var one NotificationPayload
		if err := json.Unmarshal([]byte(h.Payload), &one); err != nil {
			return fmt.Errorf("decode held delivery: %w", err)
		}
		p.Digest = append(p.Digest, NotifyEntry{Event: h.Event, At: h.At, Host: h.HostName, Message: one.Message})
	}
	if _, err := insertDelivery(ctx, tx, channelID, p, "pending", now); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE notification_deliveries SET state = 'digested' WHERE channel_id = ? AND state = 'held'`, channelID)
	return err
}
