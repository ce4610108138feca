package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// NotificationPayload is the JSON a webhook channel receives (and what a
// delivery row keeps). It carries names and ids, never a secret.
type NotificationPayload struct {
	Event   string        `json:"event"`
	At      time.Time     `json:"at"`
	Host    *NotifyHost   `json:"host,omitempty"`
	Job     *NotifyJob    `json:"job,omitempty"`
	Message string        `json:"message"`
	Link    string        `json:"link"` // the server's public URL + the job or host page
	Digest  []NotifyEntry `json:"digest,omitempty"`
}

// NotifyHost names the host a notification is about.
type NotifyHost struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// NotifyJob is the job a notification is about.
type NotifyJob struct {
	ID         int64  `json:"id"`
	Kind       string `json:"kind"`
	Status     string `json:"status"`
	Error      string `json:"error,omitempty"`
	SnapshotID string `json:"snapshot_id,omitempty"`
}

// NotifyEntry is one line of a daily digest.
type NotifyEntry struct {
	Event   string    `json:"event"`
	At      time.Time `json:"at"`
	Host    string    `json:"host,omitempty"`
	Message string    `json:"message"`
}

// routedChannel is what routing needs to know about a channel.
type routedChannel struct {
	ID              int64  `db:"id"`
	Kind            string `db:"kind"`
	EventsJSON      string `db:"events"`
	TagsJSON        string `db:"tags"`
	ThrottleMinutes int    `db:"throttle_minutes"`
	DigestHour      *int   `db:"digest_hour"`
}

// enqueueNotification writes one delivery row per channel that wants p,
// inside tx (the transaction of the change that caused it, so the message
// is stored if and only if the change is). Routing: the channel is
// enabled and asks for the event; its tags, when it has any, meet the
// host's; the host is not muted; the channel's throttle lets it through
// (no delivery of the same event for the same host in the window). A
// healthchecks channel gets backup jobs only. It returns how many rows it
// wrote; the caller wakes the worker after its commit.
func (s *Service) enqueueNotification(ctx context.Context, tx *sqlx.Tx, p NotificationPayload) (int, error) {
	var chans []routedChannel
	if err := tx.SelectContext(ctx, &chans, `SELECT id, kind, events, tags, throttle_minutes, digest_hour
		FROM notification_channels WHERE enabled = 1 ORDER BY id`); err != nil {
		return 0, fmt.Errorf("notify: load channels: %w", err)
	}
	if len(chans) == 0 {
		return 0, nil
	}
	hostID := ""
	var tags []string
	if p.Host != nil {
		hostID = p.Host.ID
	}
	if hostID != "" && p.Event != NotifyHostPending {
		var muted bool
		err := tx.GetContext(ctx, &muted, `SELECT muted FROM notification_host_settings WHERE host_id = ?`, hostID)
		if err != nil && !isNoRows(err) {
			return 0, fmt.Errorf("notify: load host settings: %w", err)
		}
		if muted {
			return 0, nil
		}
		if tags, err = hostTags(ctx, tx, hostID); err != nil {
			return 0, fmt.Errorf("notify: load host tags: %w", err)
		}
	}
	now := s.now()
	n := 0
	for _, c := range chans {
		ok, err := s.routes(ctx, tx, c, p, hostID, tags, now)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		state := "pending"
		if c.DigestHour != nil {
			state = "held"
		}
		if _, err := insertDelivery(ctx, tx, c.ID, p, state, now); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// routes says whether channel c takes p.
func (s *Service) routes(ctx context.Context, tx *sqlx.Tx, c routedChannel, p NotificationPayload, hostID string, hostTags []string, now time.Time) (bool, error) {
	var events, tags []string
	if err := json.Unmarshal([]byte(c.EventsJSON), &events); err != nil {
		return false, fmt.Errorf("notify: decode events of channel %d: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(c.TagsJSON), &tags); err != nil {
		return false, fmt.Errorf("notify: decode tags of channel %d: %w", c.ID, err)
	}
	if !slices.Contains(events, p.Event) {
		return false, nil
	}
	if c.Kind == ChannelHealthchecks && (p.Job == nil || p.Job.Kind != "backup" || hostID == "") {
		return false, nil
	}
	if len(tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(hostTags, t) }) {
		return false, nil
	}
	if c.ThrottleMinutes > 0 && hostID != "" {
		var recent bool
		err := tx.GetContext(ctx, &recent, `SELECT EXISTS (SELECT 1 FROM notification_deliveries
			WHERE channel_id = ? AND host_id = ? AND event = ? AND created_at > ?)`,
			c.ID, hostID, p.Event, now.Add(-time.Duration(c.ThrottleMinutes)*time.Minute))
		if err != nil {
			return false, fmt.Errorf("notify: throttle: %w", err)
		}
		if recent {
			s.log.Info("notification throttled", "channel", c.ID, "event", p.Event, "host", hostID)
			return false, nil
		}
	}
	return true, nil
}

// insertDelivery writes one outbox row for channelID.
func insertDelivery(ctx context.Context, tx *sqlx.Tx, channelID int64, p NotificationPayload, state string, now time.Time) (int64, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("notify: encode payload: %w", err)
	}
	var hostID, hostName string
	if p.Host != nil {
		hostID, hostName = p.Host.ID, p.Host.Name
	}
	var jobID *int64
	if p.Job != nil {
		jobID = &p.Job.ID
	}
	var id int64
	if err := tx.GetContext(ctx, &id, `INSERT INTO notification_deliveries (channel_id, event, host_id, host_name, job_id,
		payload, state, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		channelID, p.Event, hostID, hostName, jobID, string(body), state, now, now); err != nil {
		return 0, fmt.Errorf("notify: insert delivery: %w", err)
	}
	return id, nil
}
