package server_test

import (
	"crypto/hmac"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestNotifyWebhookJobFailed: a failing backup stored through the real
// ingest path reaches a webhook on loopback with the host, the job, its
// error and a link, signed with the channel's secret.
func TestNotifyWebhookJobFailed(t *testing.T) {
	f := newJobsFixture(t)
	f.s.SetPublicURL("https://backup.example.com/")
	rcv := newReceiver(t)
	ch := f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: rcv.srv.URL + "/hook",
		Secret: strp("s3cret-signing-key"), Events: []string{server.NotifyJobFailed}})
	h := f.readyHost(t, "web-2", 2)
	f.runBackup(t, h, topics.JobSucceeded, succeededResult()) // no job.failed: nothing sent
	id := f.runBackup(t, h, topics.JobFailed, failedResult())

	got := rcv.waitRequests(t, 1)
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1 (only the failure)", len(got))
	}
	r := got[0]
	if want := server.SignBody([]byte("s3cret-signing-key"), r.Body); !hmac.Equal([]byte(r.Header.Get(server.SignatureHeader)), []byte(want)) {
		t.Fatalf("signature %q, want %q", r.Header.Get(server.SignatureHeader), want)
	}
	p := decodePayload(t, r.Body)
	if p.Event != server.NotifyJobFailed || p.Host == nil || p.Host.ID != h.id || p.Host.Name != "web-2" || p.Job == nil ||
		p.Job.ID != id || p.Job.Kind != "backup" || p.Job.Status != "failed" ||
		p.Job.Error != "restic failed: Fatal: unable to open repository" || p.At.IsZero() ||
		p.Link != fmt.Sprintf("https://backup.example.com/jobs/%d", id) {
		t.Fatalf("payload %+v job %+v", p, p.Job)
	}
	waitFor(t, "the delivery marked sent", func() bool {
		d := f.deliveries(t, ch.ID)
		return len(d) == 1 && d[0].State == "sent" && d[0].SentAt != nil && d[0].JobID != nil && *d[0].JobID == id
	})
}

// TestNotifyRetriesUntilReceiverIsBack: a receiver that is down gets the
// message once it is back; the delivery shows the last error meanwhile.
func TestNotifyRetriesUntilReceiverIsBack(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	rcv.down.Store(true)
	ch := f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: rcv.srv.URL,
		Events: []string{server.NotifyJobFailed}})
	h := f.readyHost(t, "web-2", 2)
	f.runBackup(t, h, topics.JobFailed, failedResult())
	waitFor(t, "a failed attempt", func() bool {
		d := f.deliveries(t, ch.ID)
		return len(d) == 1 && d[0].Attempts >= 1 && strings.Contains(d[0].LastError, "503") && d[0].State == "pending"
	})
	rcv.down.Store(false)
	f.clock.Advance(time.Hour) // past any backoff
	rcv.waitRequests(t, 1)
	waitFor(t, "the delivery marked sent", func() bool {
		d := f.deliveries(t, ch.ID)
		return d[0].State == "sent" && d[0].LastError == ""
	})
}

// TestNotifyThrottle: two failures of one host within the channel's window
// make one message; after the window, the next one goes out again.
func TestNotifyThrottle(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	ch := f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: rcv.srv.URL,
		Events: []string{server.NotifyJobFailed}, ThrottleMinutes: 60})
	h := f.readyHost(t, "web-2", 2)
	f.runBackup(t, h, topics.JobFailed, failedResult())
	f.clock.Advance(59 * time.Minute)
	f.runBackup(t, h, topics.JobFailed, failedResult())
	if d := f.deliveries(t, ch.ID); len(d) != 1 {
		t.Fatalf("%d deliveries within the window, want 1", len(d))
	}
	f.clock.Advance(2 * time.Minute)
	f.runBackup(t, h, topics.JobFailed, failedResult())
	if d := f.deliveries(t, ch.ID); len(d) != 2 {
		t.Fatalf("%d deliveries after the window, want 2", len(d))
	}
	rcv.waitRequests(t, 2)
}

// TestNotifyRoutesByTagAndMute: a channel limited to a tag hears only of
// hosts with it; a muted host is heard of nowhere.
func TestNotifyRoutesByTagAndMute(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	ch := f.channel(t, server.NotificationChannel{Name: "lyon", Kind: server.ChannelWebhook, URL: rcv.srv.URL,
		Events: []string{server.NotifyJobFailed}, Tags: []string{"Site:Lyon"}})
	if len(ch.Tags) != 1 || ch.Tags[0] != "site:lyon" {
		t.Fatalf("tags %v, want [site:lyon]", ch.Tags)
	}
	lyon := f.readyHost(t, "lyon-1", 2, "site:lyon")
	paris := f.readyHost(t, "paris-1", 3, "site:paris")
	f.runBackup(t, paris, topics.JobFailed, failedResult())
	f.runBackup(t, lyon, topics.JobFailed, failedResult())
	d := f.deliveries(t, ch.ID)
	if len(d) != 1 || d[0].HostID != lyon.id {
		t.Fatalf("deliveries %+v, want one for lyon-1", d)
	}
	if _, err := f.s.SetHostNotifySettings(t.Context(), f.operator, lyon.id, server.HostNotifySettings{Muted: true}); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("an operator muted a host: %v", err)
	}
	if _, err := f.s.SetHostNotifySettings(t.Context(), f.admin, lyon.id, server.HostNotifySettings{Muted: true}); err != nil {
		t.Fatal(err)
	}
	f.runBackup(t, lyon, topics.JobFailed, failedResult())
	if d := f.deliveries(t, ch.ID); len(d) != 1 {
		t.Fatalf("a muted host was notified: %+v", d)
	}
	rcv.waitRequests(t, 1)
}

// TestNotifyRecoveredAndWarning: the first success after a failure is
// backup.recovered; a warning is job.warning; a failed check is check.errors.
func TestNotifyRecoveredAndWarning(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	ch := f.channel(t, server.NotificationChannel{Name: "all", Kind: server.ChannelWebhook, URL: rcv.srv.URL,
		Events: []string{server.NotifyBackupRecovered, server.NotifyJobWarning, server.NotifyCheckErrors}})
	h := f.readyHost(t, "web-2", 2)
	f.runBackup(t, h, topics.JobSucceeded, succeededResult())
	if d := f.deliveries(t, ch.ID); len(d) != 0 {
		t.Fatalf("a success after a success notified: %+v", d)
	}
	f.runBackup(t, h, topics.JobFailed, failedResult())
	f.runBackup(t, h, topics.JobSucceeded, succeededResult())
	f.runBackup(t, h, topics.JobWarning, &topics.JobResult{ExitCode: intp(3), SnapshotID: testSnapshotID, Reason: "some files were unreadable"})
	chk, err := f.s.CreateJob(t.Context(), f.admin, h.id, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobCheck}})
	if err != nil {
		t.Fatal(err)
	}
	walkJob(t, h.agent, chk.UID, topics.JobFailed, &topics.JobResult{ExitCode: intp(1), Reason: "check found errors"})
	var events []string
	for _, d := range f.deliveries(t, ch.ID) {
		events = append([]string{d.Event}, events...)
	}
	if strings.Join(events, ",") != "backup.recovered,job.warning,check.errors" {
		t.Fatalf("events %v", events)
	}
	rcv.waitRequests(t, 3)
}

// TestNotifyShoutrrrGeneric: a shoutrrr channel with a generic webhook URL
// delivers the message text to a loopback receiver.
func TestNotifyShoutrrrGeneric(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	u := strings.Replace(rcv.srv.URL, "http://", "generic+http://", 1) + "/shout"
	ch := f.channel(t, server.NotificationChannel{Name: "shout", Kind: server.ChannelShoutrrr, URL: u, Events: []string{server.NotifyJobFailed}})
	h := f.readyHost(t, "web-2", 2)
	id := f.runBackup(t, h, topics.JobFailed, failedResult())
	got := rcv.waitRequests(t, 1)
	body := string(got[0].Body)
	if got[0].Path != "/shout" || !strings.Contains(body, fmt.Sprintf("web-2: backup job %d failed: restic failed", id)) {
		t.Fatalf("shoutrrr sent %q to %s", body, got[0].Path)
	}
	waitFor(t, "the delivery marked sent", func() bool { return f.deliveries(t, ch.ID)[0].State == "sent" })
}

// TestNotifyHealthchecksPings: a healthchecks channel pings the host's
// check on start, success and failure, by its slug.
func TestNotifyHealthchecksPings(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	ch := f.channel(t, server.NotificationChannel{Name: "hc", Kind: server.ChannelHealthchecks, URL: rcv.srv.URL + "/ping/key123"})
	if strings.Join(ch.Events, ",") != "backup.started,backup.succeeded,job.failed" {
		t.Fatalf("default events %v", ch.Events)
	}
	h := f.readyHost(t, "web-2", 2)
	other := f.readyHost(t, "db-1", 3)
	if _, err := f.s.SetHostNotifySettings(t.Context(), f.admin, other.id, server.HostNotifySettings{CheckSlug: "0b5d1a3e-db"}); err != nil {
		t.Fatal(err)
	}
	f.runBackup(t, h, topics.JobSucceeded, succeededResult())
	f.runBackup(t, other, topics.JobFailed, failedResult())
	got := rcv.waitRequests(t, 4)
	var paths []string
	for _, r := range got {
		paths = append(paths, r.Path)
	}
	want := "/ping/key123/web-2/start,/ping/key123/web-2,/ping/key123/0b5d1a3e-db/start,/ping/key123/0b5d1a3e-db/fail"
	if strings.Join(paths, ",") != want {
		t.Fatalf("pings %v, want %s", paths, want)
	}
}

// TestNotifySecretsStaySealed: a channel's URL and secret are never
// answered, audited or logged in a delivery's error, and are not in the
// database in clear.
func TestNotifySecretsStaySealed(t *testing.T) {
	f := newJobsFixture(t)
	const token = "tk_9f8e7d6c5b4a"
	ch := f.channel(t, server.NotificationChannel{Name: "ntfy", Kind: server.ChannelWebhook,
		URL: "http://127.0.0.1:1/" + token + "?auth=" + token, Secret: strp("hmac-" + token), Events: []string{server.NotifyJobFailed}})
	if ch.URL != "http://127.0.0.1/…" || !ch.HasSecret || ch.Secret != nil {
		t.Fatalf("answered %+v", ch)
	}
	// A PUT of what GET gave changes nothing and keeps the sealed URL.
	same, err := f.s.UpdateNotificationChannel(t.Context(), f.admin, ch.ID, *ch)
	if err != nil || !same.UpdatedAt.Equal(ch.UpdatedAt) || !same.HasSecret {
		t.Fatalf("unchanged PUT: %+v %v", same, err)
	}
	h := f.readyHost(t, "web-2", 2)
	f.runBackup(t, h, topics.JobFailed, failedResult())
	waitFor(t, "a failed attempt", func() bool {
		d := f.deliveries(t, ch.ID)
		return len(d) == 1 && d[0].LastError != ""
	})
	d := f.deliveries(t, ch.ID)
	list, err := f.s.ListNotificationChannels(t.Context(), f.admin)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := f.s.ListAudit(t.Context(), server.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var raw []string
	if err := f.s.DB().Select(&raw, `SELECT CAST(sealed AS TEXT) || url_hint FROM notification_channels`); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"last error": d[0].LastError, "list": fmt.Sprint(list), "audit": fmt.Sprint(audit), "table": fmt.Sprint(raw)} {
		if strings.Contains(text, token) {
			t.Errorf("the %s shows the secret: %s", what, text)
		}
	}
	if _, err := f.s.ListNotificationChannels(t.Context(), f.operator); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("an operator listed channels: %v", err)
	}
}

// TestNotifyChannelRefusals: bad channels are refused with a sentence and store nothing.
func TestNotifyChannelRefusals(t *testing.T) {
	f := newJobsFixture(t)
	hour := 25
	for name, c := range map[string]server.NotificationChannel{
		"kind":     {Name: "a", Kind: "pager", URL: "https://x.example", Events: []string{"job.failed"}},
		"scheme":   {Name: "a", Kind: server.ChannelWebhook, URL: "ftp://x.example", Events: []string{"job.failed"}},
		"shoutrrr": {Name: "a", Kind: server.ChannelShoutrrr, URL: "nosuch://x.example", Events: []string{"job.failed"}},
		"event":    {Name: "a", Kind: server.ChannelWebhook, URL: "https://x.example", Events: []string{"job.exploded"}},
		"none":     {Name: "a", Kind: server.ChannelWebhook, URL: "https://x.example"},
		"tag":      {Name: "a", Kind: server.ChannelWebhook, URL: "https://x.example", Events: []string{"job.failed"}, Tags: []string{"bad tag"}},
		"hour":     {Name: "a", Kind: server.ChannelWebhook, URL: "https://x.example", Events: []string{"job.failed"}, DigestHour: &hour},
		"name":     {Name: "", Kind: server.ChannelWebhook, URL: "https://x.example", Events: []string{"job.failed"}},
	} {
		_, err := f.s.CreateNotificationChannel(t.Context(), f.admin, c)
		if server.ErrorCodeOf(err) != server.CodeInvalid || server.PublicMessage(err) == "" {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	if l, _ := f.s.ListNotificationChannels(t.Context(), f.admin); len(l) != 0 {
		t.Fatalf("refused channels were stored: %+v", l)
	}
}

// TestNotifyDailyDigest: a digest channel holds messages and sends one
// summary when its hour comes.
func TestNotifyDailyDigest(t *testing.T) {
	f := newJobsFixture(t) // the clock is at 12:00 UTC
	rcv := newReceiver(t)
	hour := 13
	ch := f.channel(t, server.NotificationChannel{Name: "daily", Kind: server.ChannelWebhook, URL: rcv.srv.URL,
		Events: []string{server.NotifyJobFailed}, DigestHour: &hour})
	h := f.readyHost(t, "web-2", 2)
	f.runBackup(t, h, topics.JobFailed, failedResult())
	f.runBackup(t, h, topics.JobFailed, failedResult())
	if d := f.deliveries(t, ch.ID); len(d) != 2 || d[0].State != "held" {
		t.Fatalf("deliveries %+v, want two held", d)
	}
	f.clock.Advance(time.Hour)
	got := rcv.waitRequests(t, 1)
	p := decodePayload(t, got[0].Body)
	if p.Event != server.NotifyDigest || len(p.Digest) != 2 || p.Digest[0].Host != "web-2" {
		t.Fatalf("digest %+v", p)
	}
	d := f.deliveries(t, ch.ID)
	if len(d) != 3 || d[1].State != "digested" || d[2].State != "digested" {
		t.Fatalf("deliveries after the digest %+v", d)
	}
}

// TestNotifyHostHealthAndTest: host.overdue from the health watch's bus
// event reaches the channel; a test message goes out whatever the events.
func TestNotifyHostHealthAndTest(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	ch := f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: rcv.srv.URL,
		Events: []string{server.NotifyHostOverdue}})
	d, err := f.s.TestNotificationChannel(t.Context(), f.admin, ch.ID)
	if err != nil || d.Event != server.NotifyTest {
		t.Fatalf("test: %+v %v", d, err)
	}
	if p := decodePayload(t, rcv.waitRequests(t, 1)[0].Body); p.Event != server.NotifyTest {
		t.Fatalf("test payload %+v", p)
	}
	f.s.Events().Publish(server.Event{Kind: server.EventHostOverdue, HostID: f.host,
		Health: &server.HealthChange{HostName: "web-1", HostHealth: server.HostHealth{Overdue: true, OverdueAfterSeconds: 93600}}})
	got := rcv.waitRequests(t, 2)
	if p := decodePayload(t, got[1].Body); p.Event != server.NotifyHostOverdue || p.Host.ID != f.host || !strings.Contains(p.Message, "26h0m0s") {
		t.Fatalf("overdue payload %+v", p)
	}
}

// TestNotifyHostPendingOnce: a machine that announces itself is reported
// once, however often the pending list changes afterwards.
func TestNotifyHostPendingOnce(t *testing.T) {
	f := newJobsFixture(t)
	f.s.SetAnnounceEndpoint("mqtts://rm.example.test:8883", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), "SHA256:ca")
	rcv := newReceiver(t)
	ch := f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: rcv.srv.URL,
		Events: []string{server.NotifyHostPending}})
	servertest.NewPendingAgent(t, "kiosk-7").Announce(t, f.s, f.pub, 1, "192.0.2.9:1")
	got := rcv.waitRequests(t, 1)
	p := decodePayload(t, got[0].Body)
	if p.Event != server.NotifyHostPending || p.Host == nil || p.Host.Name != "kiosk-7" || !strings.Contains(p.Message, "waits for approval") {
		t.Fatalf("pending payload %+v", p)
	}
	servertest.NewPendingAgent(t, "kiosk-8").Announce(t, f.s, f.pub, 2, "192.0.2.9:2")
	rcv.waitRequests(t, 2)
	if d := f.deliveries(t, ch.ID); len(d) != 2 {
		t.Fatalf("deliveries %+v, want one per machine", d)
	}
}

// TestNotifyDeleteChannel: deleting a channel removes it and its
// deliveries; a second delete is a 404 sentence.
func TestNotifyDeleteChannel(t *testing.T) {
	f := newJobsFixture(t)
	ch := f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: "http://127.0.0.1:9/x",
		Events: []string{server.NotifyJobFailed}})
	if _, err := f.s.TestNotificationChannel(t.Context(), f.admin, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteNotificationChannel(t.Context(), f.admin, ch.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if d := f.deliveries(t, 0); len(d) != 0 {
		t.Fatalf("deliveries left: %+v", d)
	}
	if err := f.s.DeleteNotificationChannel(t.Context(), f.admin, ch.ID); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}
}

// TestNotifyShoutrrrHangDoesNotStall: a shoutrrr service that never
// answers costs one attempt its timeout, not the worker: the attempt is
// recorded as failed and other channels' messages still go out.
func TestNotifyShoutrrrHangDoesNotStall(t *testing.T) {
	f := newJobsFixture(t)
	f.s.SetNotifyTimeout(200 * time.Millisecond)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	stuck := f.channel(t, server.NotificationChannel{Name: "stuck", Kind: server.ChannelShoutrrr,
		URL: strings.Replace(hang.URL, "http://", "generic+http://", 1) + "/x", Events: []string{server.NotifyJobFailed}})
	rcv := newReceiver(t)
	f.channel(t, server.NotificationChannel{Name: "fine", Kind: server.ChannelWebhook, URL: rcv.srv.URL, Events: []string{server.NotifyJobFailed}})
	h := f.readyHost(t, "web-2", 2)
	f.runBackup(t, h, topics.JobFailed, failedResult())
	rcv.waitRequests(t, 1)
	waitFor(t, "the hanging attempt recorded", func() bool {
		d := f.deliveries(t, stuck.ID)
		return len(d) == 1 && d[0].State == "pending" && strings.Contains(d[0].LastError, "no answer")
	})
}
