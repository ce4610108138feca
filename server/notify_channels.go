package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
)

// Notification channels (#13): where messages about the fleet go. An admin
// sets them up; each names the events it wants and, optionally, the host
// tags it is limited to. The URL and the signing secret are sealed at rest
// and never shown back: reads carry only the URL's scheme and host.

// Channel kinds.
const (
	// ChannelWebhook POSTs the JSON NotificationPayload to a URL, signed
	// with HMAC-SHA256 when the channel has a secret.
	ChannelWebhook = "webhook"
	// ChannelShoutrrr sends a text message to any URL shoutrrr understands
	// (ntfy://, smtp://, slack://, discord://, telegram://, generic+https://, ...).
	ChannelShoutrrr = "shoutrrr"
	// ChannelHealthchecks pings a healthchecks.io-style check per host:
	// <url>/<slug>/start when a backup starts, <url>/<slug> when it
	// succeeds, <url>/<slug>/fail when it fails. The slug is the host's
	// check slug (SetHostNotifySettings), else its name.
	ChannelHealthchecks = "healthchecks"
)

// Notification events.
const (
	NotifyJobFailed       = "job.failed"
	NotifyJobWarning      = "job.warning"
	NotifyBackupRecovered = "backup.recovered" // first successful backup after a failed one
	NotifyBackupStarted   = "backup.started"   // for healthchecks pings
	NotifyBackupSucceeded = "backup.succeeded" // for healthchecks pings
	NotifyHostOverdue     = "host.overdue"
	NotifyHostOffline     = "host.offline"
	NotifyHostPending     = "host.pending"
	NotifyCheckErrors     = "check.errors" // a check job found errors (instead of job.failed)
	NotifyTest            = "test"         // POST .../test; never routed
	NotifyDigest          = "digest"       // a channel's daily summary
)

// NotifyEvents lists the events a channel may ask for, in the order the UI shows them.
var NotifyEvents = []string{NotifyJobFailed, NotifyJobWarning, NotifyBackupRecovered, NotifyCheckErrors,
	NotifyHostOverdue, NotifyHostOffline, NotifyHostPending, NotifyBackupStarted, NotifyBackupSucceeded}

// healthchecksEvents are the events a healthchecks channel turns into pings.
var healthchecksEvents = []string{NotifyBackupStarted, NotifyBackupSucceeded, NotifyJobFailed}

// Bounds on channels.
const (
	maxChannelName     = 64
	maxChannelURL      = 2048
	maxChannelSecret   = 256
	maxThrottleMinutes = 7 * 24 * 60
)

// NotificationChannel is one channel as the API answers it and takes it
// back: POST and PUT take what GET gave. URL is shown as scheme and host
// only ("https://ntfy.sh/…"); a PUT that sends it back unchanged keeps the
// stored URL. Secret is write-only: never answered; a PUT without it keeps
// the stored one, "" removes it.
type NotificationChannel struct {
	ID              int64     `db:"id" json:"id"`
	Name            string    `db:"name" json:"name"`
	Kind            string    `db:"kind" json:"kind"`
	URL             string    `db:"url_hint" json:"url"`
	Secret          *string   `db:"-" json:"secret,omitempty"`
	HasSecret       bool      `db:"has_secret" json:"has_secret"`
	Events          []string  `db:"-" json:"events"`
	Tags            []string  `db:"-" json:"tags"`
	ThrottleMinutes int       `db:"throttle_minutes" json:"throttle_minutes"`
	DigestHour      *int      `db:"digest_hour" json:"digest_hour"`
	Enabled         bool      `db:"enabled" json:"enabled"`
	CreatedAt       time.Time `db:"created_at" json:"created_at"`
	UpdatedAt       time.Time `db:"updated_at" json:"updated_at"`

	EventsJSON string `db:"events" json:"-"`
	TagsJSON   string `db:"tags" json:"-"`
}

// channelSecrets is what a channel's sealed column holds.
type channelSecrets struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

func channelAAD(id int64) string { return "notification_channels:" + strconv.FormatInt(id, 10) }

const channelColumns = `id, name, kind, url_hint, has_secret, events, tags, throttle_minutes, digest_hour, enabled, created_at, updated_at`

func (c *NotificationChannel) decode() error {
	if err := json.Unmarshal([]byte(c.EventsJSON), &c.Events); err != nil {
		return fmt.Errorf("decode events of channel %d: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(c.TagsJSON), &c.Tags); err != nil {
		return fmt.Errorf("decode tags of channel %d: %w", c.ID, err)
	}
	return nil
}

// ListNotificationChannels returns every channel by name. PermAdmin.
func (s *Service) ListNotificationChannels(ctx context.Context, a Actor) ([]NotificationChannel, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	var out []NotificationChannel
	if err := s.db.SelectContext(ctx, &out, `SELECT `+channelColumns+` FROM notification_channels ORDER BY name`); err != nil {
		return nil, internal("list notification channels", err)
	}
	for i := range out {
		if err := out[i].decode(); err != nil {
			return nil, internal("list notification channels", err)
		}
	}
	return out, nil
}

// GetNotificationChannel returns one channel. PermAdmin.
func (s *Service) GetNotificationChannel(ctx context.Context, a Actor, id int64) (*NotificationChannel, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	return loadChannel(ctx, s.db.DB, id)
}

func loadChannel(ctx context.Context, q sqlx.QueryerContext, id int64) (*NotificationChannel, error) {
	var c NotificationChannel
	err := sqlx.GetContext(ctx, q, &c, `SELECT `+channelColumns+` FROM notification_channels WHERE id = ?`, id)
	if isNoRows(err) {
		return nil, notFoundf("There is no notification channel %d; pick one from the list.", id)
	}
	if err != nil {
		return nil, internal("load notification channel", err)
	}
	if err := c.decode(); err != nil {
		return nil, internal("load notification channel", err)
	}
	return &c, nil
}

// CreateNotificationChannel checks in, seals and stores a new channel, with
// its audit row. PermAdmin.
func (s *Service) CreateNotificationChannel(ctx context.Context, a Actor, in NotificationChannel) (*NotificationChannel, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	sec := channelSecrets{URL: strings.TrimSpace(in.URL)}
	if in.Secret != nil {
		sec.Secret = *in.Secret
	}
	if err := checkChannel(&in, sec); err != nil {
		return nil, err
	}
	var id int64
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		now := s.now()
		ev, tags := mustJSON(in.Events), mustJSON(in.Tags)
		err := tx.GetContext(ctx, &id, `INSERT INTO notification_channels (name, kind, sealed, url_hint, has_secret, events, tags,
			throttle_minutes, digest_hour, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			in.Name, in.Kind, []byte{}, redactChannelURL(sec.URL), sec.Secret != "", ev, tags, in.ThrottleMinutes, in.DigestHour, in.Enabled, now, now)
		if isUniqueViolation(err) {
			return conflictf("A notification channel named %q exists; pick another name.", in.Name)
		}
		if err != nil {
			return err
		}
		if err := s.sealChannel(ctx, tx, id, sec); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "notification_channel.create", in.Name, channelAudit(&in, sec))
	})
	if err != nil {
		return nil, txError("Could not save the notification channel", err)
	}
	return loadChannel(ctx, s.db.DB, id)
}

// UpdateNotificationChannel replaces a channel's settings; the URL sent
// back as GET showed it (or left out) and an absent secret keep the stored ones. A
// change of nothing writes nothing. PermAdmin.
func (s *Service) UpdateNotificationChannel(ctx context.Context, a Actor, id int64, in NotificationChannel) (*NotificationChannel, error) {
	if err := a.require(PermAdmin); err != nil {
		return nil, err
	}
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := loadChannel(ctx, tx, id)
		if err != nil {
			return err
		}
		sec, err := s.openChannel(ctx, tx, id)
		if err != nil {
			return err
		}
		next := sec
		if u := strings.TrimSpace(in.URL); u != "" && u != cur.URL {
			next.URL = u
		}
		if in.Secret != nil {
			next.Secret = *in.Secret
		}
		if err := checkChannel(&in, next); err != nil {
			return err
		}
		if in.Kind != cur.Kind {
			return invalidf("A channel's kind cannot change (it is %s); delete it and create a new one.", cur.Kind)
		}
		if next == sec && in.Name == cur.Name && slices.Equal(in.Events, cur.Events) && slices.Equal(in.Tags, cur.Tags) &&
			in.ThrottleMinutes == cur.ThrottleMinutes && equalHour(in.DigestHour, cur.DigestHour) && in.Enabled == cur.Enabled {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE notification_channels SET name = ?, url_hint = ?, has_secret = ?, events = ?, tags = ?,
			throttle_minutes = ?, digest_hour = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			in.Name, redactChannelURL(next.URL), next.Secret != "", mustJSON(in.Events), mustJSON(in.Tags),
			in.ThrottleMinutes, in.DigestHour, in.Enabled, s.now(), id)
		if isUniqueViolation(err) {
			return conflictf("A notification channel named %q exists; pick another name.", in.Name)
		}
		if err != nil {
			return err
		}
		if next != sec {
			if err := s.sealChannel(ctx, tx, id, next); err != nil {
				return err
			}
		}
		d := channelAudit(&in, next)
		d["url_changed"], d["secret_changed"] = next.URL != sec.URL, next.Secret != sec.Secret
		return s.audit(ctx, tx, a, "notification_channel.update", in.Name, d)
	})
	if err != nil {
		return nil, txError("Could not save the notification channel", err)
	}
	return loadChannel(ctx, s.db.DB, id)
}

// DeleteNotificationChannel removes a channel and its deliveries. PermAdmin.
func (s *Service) DeleteNotificationChannel(ctx context.Context, a Actor, id int64) error {
	if err := a.require(PermAdmin); err != nil {
		return err
	}
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := loadChannel(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM notification_channels WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "notification_channel.delete", cur.Name, map[string]any{"id": id, "kind": cur.Kind})
	})
	if err != nil {
		return txError("Could not delete the notification channel", err)
	}
	return nil
}

func (s *Service) sealChannel(ctx context.Context, tx *sqlx.Tx, id int64, sec channelSecrets) error {
	b, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE notification_channels SET sealed = ? WHERE id = ?`, s.box.Seal(b, channelAAD(id)), id)
	return err
}

func (s *Service) openChannel(ctx context.Context, q sqlx.QueryerContext, id int64) (channelSecrets, error) {
	var sealed []byte
	var sec channelSecrets
	if err := sqlx.GetContext(ctx, q, &sealed, `SELECT sealed FROM notification_channels WHERE id = ?`, id); err != nil {
		return sec, fmt.Errorf("load sealed channel %d: %w", id, err)
	}
	b, err := s.box.Open(sealed, channelAAD(id))
	if err != nil {
		return sec, fmt.Errorf("open channel %d: %w", id, err)
	}
	if err := json.Unmarshal(b, &sec); err != nil {
		return sec, fmt.Errorf("decode channel %d: %w", id, err)
	}
	return sec, nil
}

// checkChannel validates and folds a channel's settings (names, events,
// tags sorted and unique) and its URL for its kind. Its sentences never
// quote the URL: it is a secret.
func checkChannel(c *NotificationChannel, sec channelSecrets) error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" || len(c.Name) > maxChannelName || strings.ContainsFunc(c.Name, isControl) {
		return invalidf("A channel's name is 1-%d characters without control characters (e.g. ops-ntfy).", maxChannelName)
	}
	if sec.URL == "" || len(sec.URL) > maxChannelURL || strings.ContainsFunc(sec.URL, isControl) {
		return invalidf("Give the channel's URL (at most %d characters).", maxChannelURL)
	}
	if len(sec.Secret) > maxChannelSecret {
		return invalidf("A signing secret is at most %d characters.", maxChannelSecret)
	}
	switch c.Kind {
	case ChannelWebhook, ChannelHealthchecks:
		u, err := url.Parse(sec.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalidf("A %s channel's URL is an http:// or https:// URL (e.g. https://hooks.example.com/backup).", c.Kind)
		}
	case ChannelShoutrrr:
		if _, err := (&router.ServiceRouter{}).Locate(sec.URL); err != nil {
			return invalidf("Shoutrrr does not understand this URL; see its service list (e.g. ntfy://ntfy.sh/topic, generic+https://host/path).")
		}
	default:
		return invalidf("A channel's kind is webhook, shoutrrr or healthchecks; got %q.", clipText(c.Kind))
	}
	if c.Kind != ChannelWebhook && sec.Secret != "" {
		return invalidf("Only webhook channels sign their messages; leave the secret empty for a %s channel.", c.Kind)
	}
	if c.Kind == ChannelHealthchecks && len(c.Events) == 0 {
		c.Events = slices.Clone(healthchecksEvents)
	}
	if len(c.Events) == 0 {
		return invalidf("Pick at least one event for the channel (e.g. job.failed).")
	}
	for _, e := range c.Events {
		if !slices.Contains(NotifyEvents, e) {
			return invalidf("Unknown event %q; the events are %s.", clipText(e), strings.Join(NotifyEvents, ", "))
		}
		if c.Kind == ChannelHealthchecks && !slices.Contains(healthchecksEvents, e) {
			return invalidf("A healthchecks channel pings on %s only.", strings.Join(healthchecksEvents, ", "))
		}
	}
	c.Events = sortedUnique(c.Events)
	tags, err := foldHostTags(c.Tags)
	if err != nil {
		return err
	}
	c.Tags = sortedUnique(tags)
	if c.ThrottleMinutes < 0 || c.ThrottleMinutes > maxThrottleMinutes {
		return invalidf("Throttle is 0 (off) to %d minutes.", maxThrottleMinutes)
	}
	if c.DigestHour != nil && (*c.DigestHour < 0 || *c.DigestHour > 23) {
		return invalidf("The digest hour is 0-23 (UTC), or none for immediate messages.")
	}
	if c.DigestHour != nil && c.Kind == ChannelHealthchecks {
		return invalidf("A healthchecks channel pings as things happen; it has no daily digest.")
	}
	return nil
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

func equalHour(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func mustJSON(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v) // a []string always encodes
	return string(b)
}

// channelAudit is what an audit row says about a channel: never its URL
// or secret, only what redactChannelURL shows.
func channelAudit(c *NotificationChannel, sec channelSecrets) map[string]any {
	return map[string]any{"kind": c.Kind, "url": redactChannelURL(sec.URL), "events": c.Events, "tags": c.Tags,
		"throttle_minutes": c.ThrottleMinutes, "digest_hour": c.DigestHour, "enabled": c.Enabled}
}

// redactChannelURL shows a channel URL as scheme and host only:
// "https://ntfy.sh/…". User, password, path and query may all be secrets.
func redactChannelURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "…"
	}
	return u.Scheme + "://" + u.Hostname() + "/…"
}
