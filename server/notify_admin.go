package server

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/jmoiron/sqlx"
)

// NotificationDelivery is one row of the notification outbox as the
// deliveries page and GET /api/v1/notification-deliveries show it.
type NotificationDelivery struct {
	ID          int64      `db:"id" json:"id"`
	ChannelID   int64      `db:"channel_id" json:"channel_id"`
	ChannelName string     `db:"channel_name" json:"channel_name"`
	Event       string     `db:"event" json:"event"`
	HostID      string     `db:"host_id" json:"host_id"`
	HostName    string     `db:"host_name" json:"host_name"`
	JobID       *int64     `db:"job_id" json:"job_id"`
	State       string     `db:"state" json:"state"`
	Attempts    int        `db:"attempts" json:"attempts"`
	NextAt      time.Time  `db:"next_at" json:"next_at"`
	LastError   string     `db:"last_error" json:"last_error"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	SentAt      *time.Time `db:"sent_at" json:"sent_at"`
}

// DeliveryFilter selects deliveries, newest first.
type DeliveryFilter struct {
	ChannelID int64  // 0: every channel
	State     string // "": every state
	Limit     int    // default 100, at most 1000
}

// ListNotificationDeliveries returns recent deliveries with their state
// and last error. PermAdmin.
func (s *Service) ListNotificationDeliveries(ctx context.Context, a Actor, f DeliveryFilter) ([]NotificationDelivery, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	switch f.State {
	case "", "pending", "held", "digested", "sent", "failed":
	default:
		return nil, invalidf("A delivery's state is pending, held, digested, sent or failed; got %q.", clipText(f.State))
	}
	out := []NotificationDelivery{}
	err := s.db.SelectContext(ctx, &out, `SELECT d.id, d.channel_id, c.name AS channel_name, d.event, d.host_id, d.host_name,
		d.job_id, d.state, d.attempts, d.next_at, d.last_error, d.created_at, d.sent_at
		FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id
		WHERE (? = 0 OR d.channel_id = ?) AND (? = '' OR d.state = ?) ORDER BY d.id DESC LIMIT ?`,
		f.ChannelID, f.ChannelID, f.State, f.State, f.Limit)
	if err != nil {
		return nil, internal("Could not list the notification deliveries", err)
	}
	return out, nil
}

// TestNotificationChannel queues a test message on one channel, whatever
// its events and routes, and returns its delivery; the worker sends it at
// once. PermAdmin.
func (s *Service) TestNotificationChannel(ctx context.Context, a Actor, id int64) (*NotificationDelivery, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	var did int64
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		c, err := loadChannel(ctx, tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		p := NotificationPayload{Event: NotifyTest, At: now, Link: "/admin/notifications",
			Message: fmt.Sprintf("A test message from restic-manager on channel %s, sent by %s.", c.Name, a.Name)}
		if did, err = insertDelivery(ctx, tx, id, p, "pending", now); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "notification_channel.test", c.Name, map[string]any{"id": id})
	})
	if err != nil {
		return nil, txError("Could not queue the test message", err)
	}
	s.wakeNotifier()
	var d NotificationDelivery
	if err := s.db.GetContext(ctx, &d, `SELECT d.id, d.channel_id, c.name AS channel_name, d.event, d.host_id, d.host_name,
		d.job_id, d.state, d.attempts, d.next_at, d.last_error, d.created_at, d.sent_at
		FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id WHERE d.id = ?`, did); err != nil {
		return nil, internal("Could not load the test delivery", err)
	}
	return &d, nil
}

// HostNotifySettings is a host's notification settings: muted (no message
// about it on any channel) and the slug of its check on healthchecks
// channels ("" is its name).
type HostNotifySettings struct {
	Muted     bool   `db:"muted" json:"muted"`
	CheckSlug string `db:"check_slug" json:"check_slug"`
}

var checkSlugRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// HostNotifySettings returns a host's notification settings. PermAdmin.
func (s *Service) HostNotifySettings(ctx context.Context, a Actor, hostID string) (HostNotifySettings, error) {
	var out HostNotifySettings
	if err := a.require(PermAdmin); err != nil {
		return out, err
	}
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return out, err
	}
	err := s.db.GetContext(ctx, &out, `SELECT muted, check_slug FROM notification_host_settings WHERE host_id = ?`, hostID)
	if err != nil && !isNoRows(err) {
		return out, internal("Could not load the host's notification settings", err)
	}
	return out, nil
}

// SetHostNotifySettings mutes or unmutes a host and sets its check slug,
// with an audit row. PermAdmin.
func (s *Service) SetHostNotifySettings(ctx context.Context, a Actor, hostID string, in HostNotifySettings) (HostNotifySettings, error) {
	if err := a.require(PermAdmin); err != nil {
		return in, err
	}
	if in.CheckSlug != "" && !checkSlugRE.MatchString(in.CheckSlug) {
		return in, invalidf("A check slug is 1-100 letters, digits, '.', '_' or '-' (a healthchecks.io slug or uuid), or empty for the host's name.")
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return in, err
	}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var cur HostNotifySettings
		err := tx.GetContext(ctx, &cur, `SELECT muted, check_slug FROM notification_host_settings WHERE host_id = ?`, hostID)
		if err != nil && !isNoRows(err) {
			return err
		}
		if cur == in {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notification_host_settings (host_id, muted, check_slug) VALUES (?, ?, ?)
			ON CONFLICT (host_id) DO UPDATE SET muted = excluded.muted, check_slug = excluded.check_slug`,
			hostID, in.Muted, in.CheckSlug); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "host.notifications", h.Name, map[string]any{"host_id": hostID, "muted": in.Muted, "check_slug": in.CheckSlug})
	})
	if err != nil {
		return in, txError("Could not save the host's notification settings", err)
	}
	return in, nil
}

// ListHostNotifySettings returns every host's settings that differ from
// the default (not muted, no slug), by host id. PermAdmin.
func (s *Service) ListHostNotifySettings(ctx context.Context, a Actor) (map[string]HostNotifySettings, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	var rows []struct {
		HostID string `db:"host_id"`
		HostNotifySettings
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT host_id, muted, check_slug FROM notification_host_settings`); err != nil {
		return nil, internal("Could not load the hosts' notification settings", err)
	}
	out := make(map[string]HostNotifySettings, len(rows))
	for _, r := range rows {
		out[r.HostID] = r.HostNotifySettings
	}
	return out, nil
}
