package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
)

// The delivery worker sends what the outbox (notification_deliveries)
// holds, oldest due first, one at a time. A failed attempt is retried with
// backoff (1 s, 2 s, 4 s, ... at most notifyMaxBackoff apart) until it is
// notifyGiveUpAfter old; then the row is "failed" with its last error. The
// rows are the state: a restart picks up where the last run stopped, and a
// row sent but not yet marked is sent again (at least once).

// SignatureHeader carries a webhook's HMAC-SHA256 of the body under the
// channel's secret: "sha256=<hex>".
const SignatureHeader = "X-Restic-Manager-Signature"

const (
	notifyMaxBackoff  = 30 * time.Minute
	notifyGiveUpAfter = 24 * time.Hour
	notifySendTimeout = 15 * time.Second
	notifyBatch       = 50
	maxDeliveryError  = 300
)

// notifier is the delivery worker's state.
type notifier struct {
	wake    chan struct{} // a delivery may be due
	client  *http.Client
	timeout atomic.Int64 // of one attempt (notifySendTimeout; tests lower it)
	mu      sync.Mutex
	baseURL string // the server's public URL, for links
}

func newNotifier() *notifier {
	n := &notifier{wake: make(chan struct{}, 1), client: &http.Client{}}
	n.timeout.Store(int64(notifySendTimeout))
	return n
}

// SetPublicURL tells the domain the base URL people reach the dashboard
// at, so notifications link to the job or host page ("" keeps links
// relative).
func (s *Service) SetPublicURL(u string) {
	s.notify.mu.Lock()
	s.notify.baseURL = strings.TrimRight(u, "/")
	s.notify.mu.Unlock()
}

func (s *Service) wakeNotifier() {
	select {
	case s.notify.wake <- struct{}{}:
	default:
	}
}

// runNotifications delivers the outbox and listens to the bus for the
// events that become notifications, until ctx ends.
func (s *Service) runNotifications(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.watchNotifyEvents(ctx) })
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := s.sendDigests(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("notify: digests", "err", err)
		}
		if err := s.deliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("notify: deliver", "err", err)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-s.notify.wake:
		case <-t.C:
		}
	}
}

// dueDelivery is a row the worker sends.
type dueDelivery struct {
	ID        int64     `db:"id"`
	ChannelID int64     `db:"channel_id"`
	Kind      string    `db:"kind"`
	Event     string    `db:"event"`
	HostID    string    `db:"host_id"`
	HostName  string    `db:"host_name"`
	Payload   string    `db:"payload"`
	Attempts  int       `db:"attempts"`
	CreatedAt time.Time `db:"created_at"`
}

// deliverDue sends every due delivery once.
func (s *Service) deliverDue(ctx context.Context) error {
	for {
		var rows []dueDelivery
		err := s.db.SelectContext(ctx, &rows, `SELECT d.id, d.channel_id, c.kind, d.event, d.host_id, d.host_name, d.payload,
			d.attempts, d.created_at FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id
			WHERE d.state = 'pending' AND d.next_at <= ? ORDER BY d.next_at, d.id LIMIT ?`, s.now(), notifyBatch)
		if err != nil {
			return fmt.Errorf("load due deliveries: %w", err)
		}
		for i := range rows {
			if ctx.Err() != nil {
				return nil
			}
			if err := s.deliverOne(ctx, &rows[i]); err != nil {
				return err
			}
		}
		if len(rows) < notifyBatch {
			return nil
		}
	}
}

// deliverOne makes one attempt and records its outcome.
func (s *Service) deliverOne(ctx context.Context, d *dueDelivery) error {
	sendErr := s.send(ctx, d)
	now := s.now()
	d.Attempts++
	var err error
	switch {
	case sendErr == nil:
		_, err = s.db.ExecContext(ctx, `UPDATE notification_deliveries SET state = 'sent', attempts = ?, sent_at = ?,
			last_error = '' WHERE id = ?`, d.Attempts, now, d.ID)
		s.log.Info("notification sent", "delivery", d.ID, "channel", d.ChannelID, "event", d.Event, "host", d.HostID)
	case now.Sub(d.CreatedAt) >= notifyGiveUpAfter:
		_, err = s.db.ExecContext(ctx, `UPDATE notification_deliveries SET state = 'failed', attempts = ?, last_error = ?
			WHERE id = ?`, d.Attempts, sendErr.Error(), d.ID)
		s.log.Warn("notification given up", "delivery", d.ID, "channel", d.ChannelID, "attempts", d.Attempts, "err", sendErr)
	default:
		wait := min(time.Second<<min(d.Attempts-1, 20), notifyMaxBackoff)
		_, err = s.db.ExecContext(ctx, `UPDATE notification_deliveries SET attempts = ?, last_error = ?, next_at = ?
			WHERE id = ?`, d.Attempts, sendErr.Error(), now.Add(wait), d.ID)
		s.log.Info("notification not delivered; retrying", "delivery", d.ID, "channel", d.ChannelID, "in", wait, "err", sendErr)
	}
	if err != nil {
		return fmt.Errorf("record delivery %d: %w", d.ID, err)
	}
	return nil
}

// send makes one attempt. Its error never holds the channel's URL or
// secret: both are replaced by the URL's scheme and host.
func (s *Service) send(ctx context.Context, d *dueDelivery) error {
	sec, err := s.openChannel(ctx, s.db, d.ChannelID)
	if err != nil {
		return errors.New("cannot open the channel's sealed URL (was the master key changed?)")
	}
	var p NotificationPayload
	if err := json.Unmarshal([]byte(d.Payload), &p); err != nil {
		return fmt.Errorf("stored payload is corrupt: %v", err)
	}
	s.notify.mu.Lock()
	if base := s.notify.baseURL; strings.HasPrefix(p.Link, "/") {
		p.Link = base + p.Link
	}
	s.notify.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.notify.timeout.Load()))
	defer cancel()
	switch d.Kind {
	case ChannelWebhook:
		err = s.sendWebhook(ctx, d, sec, p)
	case ChannelShoutrrr:
		err = sendShoutrrr(ctx, sec, p)
	case ChannelHealthchecks:
		err = s.sendPing(ctx, d, sec, p)
	default:
		err = fmt.Errorf("unknown channel kind %q", d.Kind)
	}
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, secret := range []string{sec.URL, sec.Secret} {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, redactChannelURL(sec.URL))
		}
	}
	if len(msg) > maxDeliveryError {
		msg = msg[:maxDeliveryError] + "…"
	}
	return errors.New(msg)
}

func (s *Service) sendWebhook(ctx context.Context, d *dueDelivery, sec channelSecrets, p NotificationPayload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sec.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "restic-manager")
	req.Header.Set("X-Restic-Manager-Event", p.Event)
	req.Header.Set("X-Restic-Manager-Delivery", fmt.Sprint(d.ID))
	if sec.Secret != "" {
		req.Header.Set(SignatureHeader, SignBody([]byte(sec.Secret), body))
	}
	return s.do(req)
}

// SignBody is a webhook's signature header value: "sha256=" and the hex
// HMAC-SHA256 of body under secret. A receiver recomputes it over the raw
// body and compares in constant time.
func SignBody(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// sendPing pings a host's check on a healthchecks channel. A test ping
// goes to the channel's URL itself.
func (s *Service) sendPing(ctx context.Context, d *dueDelivery, sec channelSecrets, p NotificationPayload) error {
	target := strings.TrimRight(sec.URL, "/")
	if d.Event != NotifyTest {
		slug := d.HostName
		var set string
		err := s.db.GetContext(ctx, &set, `SELECT check_slug FROM notification_host_settings WHERE host_id = ?`, d.HostID)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("load the host's check slug: %w", err)
		}
		if set != "" {
			slug = set
		}
		target += "/" + slug
		switch d.Event {
		case NotifyBackupStarted:
			target += "/start"
		case NotifyJobFailed:
			target += "/fail"
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(p.Message))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "restic-manager")
	return s.do(req)
}

func (s *Service) do(req *http.Request) error {
	resp, err := s.notify.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}

// sendShoutrrr sends the message through shoutrrr's service for the URL.
// Some of its services take no context and wait without a deadline (the
// generic webhook uses http.DefaultClient): the attempt gives up at ctx's
// deadline and leaves that send to finish or fail on its own.
func sendShoutrrr(ctx context.Context, sec channelSecrets, p NotificationPayload) error {
	svc, err := (&router.ServiceRouter{}).Locate(sec.URL)
	if err != nil {
		return fmt.Errorf("shoutrrr does not understand the URL: %w", err)
	}
	text := p.Message
	for _, e := range p.Digest {
		text += "\n- " + e.Message
	}
	if p.Link != "" {
		text += "\n" + p.Link
	}
	done := make(chan error, 1)
	go func() { done <- svc.Send(text, &types.Params{"title": "restic-manager: " + p.Event}) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.New("no answer from the service in time")
	}
}
