package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
)

// TestNotificationChannelEditForm: the notifications page edits a channel
// through the domain's update (the API's PUT): the change is stored, an
// empty URL and secret keep the sealed ones (the next message still goes to
// the URL, signed with the secret), one audit row per change, a refusal
// is one sentence and changes nothing, and unticking "enabled" turns it off.
func TestNotificationChannelEditForm(t *testing.T) {
	app := newTestApp(t)
	app.runService() // the delivery worker
	b, csrf := app.signedIn("ada", server.RoleAdmin)
	rcv := newNotifyReceiver(t)
	const secret = "edit-secret-7731"
	ch, err := app.svc.CreateNotificationChannel(t.Context(), server.CLIActor(), server.NotificationChannel{Name: "ops",
		Kind: server.ChannelWebhook, URL: rcv.URL + "/hook/k", Secret: new(secret), Events: []string{server.NotifyJobFailed}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/admin/notifications/%d", ch.ID)
	page := b.get("/admin/notifications")
	if !strings.Contains(page.body, `action="`+path+`"`) || strings.Contains(page.body, secret) {
		t.Fatalf("the page has no edit form for the channel, or shows its secret:\n%s", page.body)
	}
	load := func() *server.NotificationChannel {
		t.Helper()
		got, err := app.svc.GetNotificationChannel(t.Context(), server.CLIActor(), ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	before := app.auditCount()
	res := b.postForm(path, url.Values{"csrf_token": {csrf}, "name": {"ops-renamed"}, "kind": {"webhook"}, "url": {""}, "secret": {""},
		"events": {"job.failed", "host.overdue"}, "tags": {"site:lyon"}, "throttle_minutes": {"15"}, "digest_hour": {"7"}, "enabled": {"on"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/notifications?done=edited" {
		t.Fatalf("edit: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	got := load()
	if got.Name != "ops-renamed" || !slices.Equal(got.Events, []string{"host.overdue", "job.failed"}) || !slices.Equal(got.Tags, []string{"site:lyon"}) ||
		got.ThrottleMinutes != 15 || got.DigestHour == nil || *got.DigestHour != 7 || !got.Enabled || !got.HasSecret || got.URL != ch.URL {
		t.Fatalf("stored after the edit: %+v (before %+v)", got, ch)
	}
	if n := app.auditCount(); n != before+1 {
		t.Fatalf("the edit wrote %d audit rows, want 1", n-before)
	}
	if e := app.lastAudit(); e.Action != "notification_channel.update" || e.Actor != "ada" || strings.Contains(fmt.Sprint(e.Details), secret) {
		t.Fatalf("audit row %+v", e)
	}
	if page := b.get("/admin/notifications?done=edited"); !strings.Contains(page.body, "ops-renamed") || !strings.Contains(page.body, "Channel saved.") {
		t.Fatalf("the page does not show the edited channel:\n%s", page.body)
	}

	// The sealed URL and secret were kept: a test message reaches the same
	// URL, signed with the same secret.
	if _, err := app.svc.TestNotificationChannel(t.Context(), server.CLIActor(), ch.ID); err != nil {
		t.Fatal(err)
	}
	req := rcv.wait(t, 1)[0]
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(req.body)
	if req.path != "/hook/k" || req.header.Get("X-Restic-Manager-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Fatalf("the receiver got %s with signature %q", req.path, req.header.Get("X-Restic-Manager-Signature"))
	}

	// A refusal: one sentence, nothing stored, no audit row.
	before = app.auditCount()
	res = b.postForm(path, url.Values{"csrf_token": {csrf}, "name": {"other"}, "kind": {"webhook"}, "events": {"job.failed"}, "throttle_minutes": {"soon"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Throttle is a number of minutes") {
		t.Fatalf("bad throttle: %d\n%s", res.StatusCode, res.body)
	}
	if load().Name != "ops-renamed" || app.auditCount() != before {
		t.Fatal("a refused edit changed the channel or wrote an audit row")
	}

	// Unticking "enabled" turns the channel off.
	res = b.postForm(path, url.Values{"csrf_token": {csrf}, "name": {"ops-renamed"}, "kind": {"webhook"}, "events": {"job.failed"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", res.StatusCode, res.body)
	}
	if got := load(); got.Enabled || !got.HasSecret {
		t.Fatalf("after disabling: %+v", got)
	}
	if page := b.get("/admin/notifications"); !strings.Contains(page.body, `tone-bad">off</span>`) {
		t.Fatal("the page does not mark the disabled channel off")
	}
}
