package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestRestorePage (#14): the restore form lists the paths it was opened
// with; only an admin gets the original location and another host; a
// confirmation is required before overwriting the live files; a cross-host
// restore through the form is queued on the target host, naming the source.
func TestRestorePage(t *testing.T) {
	app := newTestApp(t)
	src, dst := app.readyHost("desk"), app.onlineHost("spare")
	_, snap := src.reportSnapshots(2)
	page := "/hosts/" + src.hostID + "/snapshots/" + snap + "/restore"
	admin, adminCSRF := app.signedIn("ada", server.RoleAdmin)
	operator, opCSRF := app.signedIn("otto", server.RoleOperator)

	res := admin.get(page + "?include=/etc/hosts&include=/home/ada/cv.odt")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("admin: HTTP %d\n%s", res.StatusCode, res.body)
	}
	for _, want := range []string{"/etc/hosts", "/home/ada/cv.odt", `value="original"`, `value="` + dst.hostID + `"`, `name="confirm_original"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the admin's form lacks %q", want)
		}
	}
	if strings.Contains(res.body, `id="restore-overwrite-why"`) {
		t.Error("restic 0.18 can choose a policy, yet the form says it cannot")
	}
	res = operator.get(page)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, "The whole snapshot.") || strings.Contains(res.body, `value="original"`) ||
		!strings.Contains(res.body, `id="restore-admin-only"`) {
		t.Fatalf("operator's form: HTTP %d\n%s", res.StatusCode, res.body)
	}

	post := func(c *client, csrf string, f url.Values) response {
		f.Set("csrf_token", csrf)
		return c.postForm(page, f)
	}
	// Unconfirmed: nothing is queued, the form says what to tick.
	before := src.countJobs()
	res = post(admin, adminCSRF, url.Values{"include": {"/etc/hosts"}, "where": {"original"}, "overwrite": {"never"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Tick the box") || src.countJobs() != before {
		t.Fatalf("unconfirmed original location: HTTP %d", res.StatusCode)
	}
	// An operator posting it by hand is refused by the domain.
	res = post(operator, opCSRF, url.Values{"include": {"/etc/hosts"}, "where": {"original"}, "confirm_original": {"1"}})
	if res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, "admin-only") || src.countJobs() != before {
		t.Fatalf("operator's original-location restore: HTTP %d", res.StatusCode)
	}
	res = post(operator, opCSRF, url.Values{"where": {"host"}, "target_host": {dst.hostID}, "target": {"/srv/in"}})
	if res.StatusCode != http.StatusForbidden || dst.countJobs() != 0 {
		t.Fatalf("operator's cross-host restore: HTTP %d", res.StatusCode)
	}
	// The admin's cross-host restore: queued on the target, from the source.
	res = post(admin, adminCSRF, url.Values{"include": {"/etc/hosts"}, "where": {"host"}, "target_host": {dst.hostID},
		"target": {"/srv/in"}, "overwrite": {"if-newer"}, "verify": {"1"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/jobs/") {
		t.Fatalf("admin's cross-host restore: HTTP %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	jobs, err := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: dst.hostID})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("target's jobs: %v %+v", err, jobs)
	}
	want := topics.JobSpec{Kind: topics.JobRestore, Snapshot: snap, Include: []string{"/etc/hosts"}, Target: "/srv/in",
		Overwrite: topics.OverwriteIfNewer, Verify: true, SourceHost: src.hostID}
	if got := jobs[0].Spec; got.Snapshot != want.Snapshot || got.SourceHost != want.SourceHost || got.Overwrite != want.Overwrite ||
		!got.Verify || got.Target != want.Target || strings.Join(got.Include, ",") != "/etc/hosts" {
		t.Fatalf("queued spec %+v, want %+v", got, want)
	}
	if a := app.lastAudit(); a.Action != "job.create" || !strings.Contains(a.Details, `"source_host":"desk"`) ||
		strings.Contains(a.Details, testRepoPassword) {
		t.Errorf("audit row %+v", a)
	}
}

// TestRestorePageOldRestic: for a host whose restic has no --overwrite,
// the policy select is disabled and says which restic can.
func TestRestorePageOldRestic(t *testing.T) {
	app := newTestApp(t)
	app.runService()
	token, _, err := app.svc.CreateEnrollmentToken(t.Context(), server.CLIActor(), "museum", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.svc.Enroll(t.Context(), server.EnrollRequest{Token: token, Hostname: "museum.lan", OS: "linux", Arch: "amd64",
		AgentVersion: "0.1.0", ResticVersion: "0.16.4", RemoteAddr: "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	app.svc.Presence().Connected(res.HostID, 1, "192.0.2.10:4000")
	old := &fakeAgent{t: t, app: app, hostID: res.HostID, name: "museum"}
	_, snap := old.reportSnapshots(1)
	c, _ := app.signedIn("ada", server.RoleAdmin)
	page := c.get("/hosts/" + old.hostID + "/snapshots/" + snap[:8] + "/restore")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d\n%s", page.StatusCode, page.body)
	}
	if !strings.Contains(page.body, `name="overwrite" disabled`) || !strings.Contains(page.body, "0.16.4") ||
		!strings.Contains(page.body, topics.OverwriteMinRestic+" or newer") {
		t.Fatalf("the policy select is not disabled with a reason:\n%s", page.body)
	}
}
