package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestSourcesAndSchedulesOnHostPage: the Sources tab shows each group in
// words (schedule, retention, next and last run) with Run now; the
// Schedules tab shows Next / Last and pause or resume for operators only.
func TestSourcesAndSchedulesOnHostPage(t *testing.T) {
	app := newTestApp(t)
	host, g, s := app.groupHost("web-01", false)
	job, err := app.svc.CreateJob(t.Context(), server.CLIActor(), host.hostID, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup}, SourceGroup: "docs"})
	requireNoError(t, err)
	host.finish(job, topics.JobSucceeded, nil)
	requireNoError(t, app.svc.SetBandwidth(t.Context(), server.CLIActor(), host.hostID, topics.Bandwidth{UpKBps: 2048}))

	ops, _ := app.signedIn("ops", server.RoleOperator)
	page := ops.get("/hosts/" + host.hostID)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("host page: %d", page.StatusCode)
	}
	for _, want := range []string{
		`id="group-docs"`, "daily at 03:00 (Europe/Berlin)", "keep 7 daily, 4 weekly", "/home/docs", "*.tmp", "cache directories",
		`class="next-run`, `class="last-run`, ">succeeded<", fmt.Sprintf(`name="source_group" value="%d"`, g.ID), ">Run now<",
		"Limit bandwidth for this run", `href="#sources"`, `href="#schedules"`, "backup of docs",
		fmt.Sprintf(`action="/hosts/%s/schedules/%d/pause"`, host.hostID, s.ID), "up 2.0 MiB/s, down none", ">pending<",
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("host page lacks %q", want)
		}
	}
	// An operator runs and pauses but does not configure.
	for _, unwanted := range []string{`id="source-group-form"`, `id="schedule-form"`, `id="bandwidth-form"`} {
		if strings.Contains(page.body, unwanted) {
			t.Errorf("operator sees %s", unwanted)
		}
	}

	viewer, _ := app.signedIn("eve", server.RoleViewer)
	page = viewer.get("/hosts/" + host.hostID)
	if strings.Contains(page.body, "/pause\"") || strings.Contains(page.body, ">Run now<") {
		t.Error("a viewer sees pause or Run now")
	}

	admin, csrf := app.signedIn("root", server.RoleAdmin)
	res := admin.postForm(fmt.Sprintf("/hosts/%s/schedules/%d/pause", host.hostID, s.ID), url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause: %d", res.StatusCode)
	}
	page = admin.get("/hosts/" + host.hostID)
	for _, want := range []string{"(paused)", ">Resume<", `id="source-group-form"`, `id="schedule-form"`, `id="bandwidth-form"`, `value="2048"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("admin host page lacks %q", want)
		}
	}
}

// TestCreateSourceGroupForm posts the Sources tab's form as the browser
// test does: a daily schedule at 03:00 in a zone. A refused form keeps
// its values and stores nothing.
func TestCreateSourceGroupForm(t *testing.T) {
	app := newTestApp(t)
	host := app.readyHost("web-01")
	admin, csrf := app.signedIn("root", server.RoleAdmin)
	path := "/hosts/" + host.hostID + "/source-groups"

	page := admin.get("/hosts/" + host.hostID)
	for _, want := range []string{`id="source-group-form"`, `name="paths"`, `name="preset"`, `<option value="daily" selected>`, `name="time" type="time" value="03:00"`,
		`name="time_zone"`, "data-browser-zone", `name="catch_up" value="1" checked`, "A run missed while the machine was off runs once when it starts."} {
		if !strings.Contains(page.body, want) {
			t.Errorf("form lacks %q", want)
		}
	}

	bad := url.Values{"csrf_token": {csrf}, "name": {"docs"}, "paths": {"home/docs"}, "preset": {"daily"}, "time": {"03:00"}, "time_zone": {"Europe/Berlin"}}
	res := admin.postForm(path, bad)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "absolute") || !strings.Contains(res.body, "home/docs") {
		t.Errorf("refused form: %d", res.StatusCode)
	}
	bad.Set("paths", "/home/docs")
	bad.Set("time", "27:00")
	if res := admin.postForm(path, bad); res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "HH:MM") {
		t.Errorf("bad time: %d", res.StatusCode)
	}
	if len(host.groups()) != 0 {
		t.Fatal("a refused form stored a group")
	}

	good := url.Values{"csrf_token": {csrf}, "name": {"docs"}, "paths": {"/home/docs\r\n/srv/share\r\n"}, "excludes": {"*.tmp"},
		"exclude_caches": {"1"}, "preset": {"daily"}, "time": {"03:00"}, "time_zone": {"Europe/Berlin"}, "jitter_minutes": {"10"},
		"catch_up": {"1"}, "keep_daily": {"7"}, "keep_weekly": {"4"}}
	audit, version := app.auditCount(), configVersion(t, app, host.hostID)
	res = admin.postForm(path, good)
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "#group-docs") {
		t.Fatalf("create: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	// The group and its schedule are one save (#12.2): one audit row, one
	// config version.
	if a, v := app.auditCount(), configVersion(t, app, host.hostID); a != audit+1 || v != version+1 {
		t.Errorf("the form's save wrote %d audit rows and %d config versions", a-audit, v-version)
	}
	groups := host.groups()
	if len(groups) != 1 || len(groups[0].Paths) != 2 || !groups[0].ExcludeCaches || groups[0].Retention == nil || groups[0].Retention.Weekly != 4 {
		t.Fatalf("stored: %+v", groups)
	}
	if s := groups[0].Schedules; len(s) != 1 || s[0].Cron != "0 3 * * *" || s[0].TimeZone != "Europe/Berlin" || s[0].JitterSeconds != 600 || !s[0].CatchUp {
		t.Errorf("schedule: %+v", s)
	}

	// Its page edits it; "no schedule" removes the schedule.
	gp := admin.get(fmt.Sprintf("/hosts/%s/source-groups/%d", host.hostID, groups[0].ID))
	for _, want := range []string{`id="source-group-form"`, "/srv/share", `name="keep_daily" inputmode="numeric" pattern="[0-9]*" autocomplete="off" value="7"`, ">Preview<", "Danger zone"} {
		if !strings.Contains(gp.body, want) {
			t.Errorf("group page lacks %q", want)
		}
	}
	edit := url.Values{"csrf_token": {csrf}, "name": {"docs"}, "paths": {"/home/docs"}, "preset": {"none"}}
	audit, version = app.auditCount(), configVersion(t, app, host.hostID)
	if res := admin.postForm(fmt.Sprintf("/hosts/%s/source-groups/%d", host.hostID, groups[0].ID), edit); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", res.StatusCode, res.body)
	}
	if a, v := app.auditCount(), configVersion(t, app, host.hostID); a != audit+1 || v != version+1 {
		t.Errorf("the edit wrote %d audit rows and %d config versions", a-audit, v-version)
	}
	if g := host.groups(); len(g[0].Paths) != 1 || len(g[0].Schedules) != 0 || g[0].Retention != nil {
		t.Errorf("after edit: %+v", g)
	}
	// Delete needs the name typed out.
	del := fmt.Sprintf("/hosts/%s/source-groups/%d/delete", host.hostID, groups[0].ID)
	if res := admin.postForm(del, url.Values{"csrf_token": {csrf}, "confirm_name": {"doc"}}); res.StatusCode != http.StatusBadRequest || len(host.groups()) != 1 {
		t.Errorf("mistyped delete: %d", res.StatusCode)
	}
	if res := admin.postForm(del, url.Values{"csrf_token": {csrf}, "confirm_name": {"docs"}}); res.StatusCode != http.StatusSeeOther || len(host.groups()) != 0 {
		t.Errorf("delete: %d", res.StatusCode)
	}
}

// TestDashboardRowsShowNextLastAndPendingConfig: each row has .next-run
// ("Next:") and .last-run ("Last:"); a host whose agent has not applied
// the newest config and is offline says so.
func TestDashboardRowsShowNextLastAndPendingConfig(t *testing.T) {
	app := newTestApp(t)
	host, _, _ := app.groupHost("web-01", false)
	job, err := app.svc.CreateJob(t.Context(), server.CLIActor(), host.hostID, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup}, SourceGroup: "docs"})
	requireNoError(t, err)
	host.finish(job, topics.JobFailed, nil)
	paused, _, _ := app.groupHost("db-01", true)
	app.svc.Presence().Disconnected(paused.hostID, 1)
	bare := app.enrollHost("bare-01")

	b, _ := app.signedIn("eve", server.RoleViewer)
	page := b.get("/")
	row := func(id string) string {
		m := regexp.MustCompile(`(?s)<tr id="host-` + id + `".*?</tr>`).FindString(page.body)
		if m == "" {
			t.Fatalf("no row #host-%s", id)
		}
		return m
	}
	r := row(host.hostID)
	if !regexp.MustCompile(`class="next-run[^"]*">Next: <time [^>]*>\d\d:\d\d</time>`).MatchString(r) {
		t.Errorf("row lacks Next: HH:MM:\n%s", r)
	}
	if !regexp.MustCompile(`class="last-run[^"]*">Last: <a [^>]*><time [^>]*title="[^"]+"[^>]*>[^<]+</time> — <span class="badge tone-bad">failed</span>`).MatchString(r) {
		t.Errorf("row lacks Last: … — failed:\n%s", r)
	}
	r = row(paused.hostID)
	for _, want := range []string{"Next: <span class=\"text-warn\">(paused)</span>", "config pending", "offline since", "Last: <span class=\"text-muted\">never</span>"} {
		if !strings.Contains(r, want) {
			t.Errorf("paused row lacks %q:\n%s", want, r)
		}
	}
	if r := row(bare.HostID); !strings.Contains(r, "Next: <span class=\"text-muted\">none</span>") || strings.Contains(r, "config pending") {
		t.Errorf("bare row:\n%s", r)
	}
}

// TestRetentionPreviewFlow: Preview queues a dry run and answers a box
// that polls the job; once the host reports, the box says what would go.
func TestRetentionPreviewFlow(t *testing.T) {
	app := newTestApp(t)
	host, g, _ := app.groupHost("web-01", false)
	oldest, _ := host.reportSnapshots(7)
	admin, csrf := app.signedIn("root", server.RoleAdmin)
	path := fmt.Sprintf("/hosts/%s/source-groups/%d/retention-preview", host.hostID, g.ID)
	htmx := func(f url.Values) response {
		return admin.do(http.MethodPost, path, strings.NewReader(f.Encode()),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Hx-Request": {"true"}})
	}

	if res := htmx(url.Values{"csrf_token": {csrf}}); res.StatusCode != http.StatusOK || !strings.Contains(res.body, "at least one keep rule") {
		t.Errorf("empty policy: %d %s", res.StatusCode, res.body)
	}
	res := htmx(url.Values{"csrf_token": {csrf}, "name": {"docs"}, "keep_last": {"5"}})
	m := regexp.MustCompile(`hx-get="/jobs/(\d+)/preview" hx-trigger="load delay:1s"`).FindStringSubmatch(res.body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("preview box does not poll: %d %s", res.StatusCode, res.body)
	}
	jobs, err := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: host.hostID, Kind: topics.JobForget})
	requireNoError(t, err)
	if len(jobs) != 1 || !jobs[0].Spec.DryRun || jobs[0].Spec.Retention.Last != 5 || fmt.Sprint(jobs[0].ID) != m[1] {
		t.Fatalf("preview job: %+v", jobs)
	}
	if g := host.groups(); g[0].Retention.Last != 0 {
		t.Error("previewing saved the policy")
	}
	if res := admin.get("/jobs/" + m[1] + "/preview"); !strings.Contains(res.body, "hx-get=") {
		t.Errorf("a running preview stops polling:\n%s", res.body)
	}

	host.finish(&jobs[0], topics.JobSucceeded, &topics.JobResult{WouldRemove: []string{oldest, strings.Repeat("ab", 32)}, SnapshotsKept: 5})
	res = admin.get("/jobs/" + m[1] + "/preview")
	for _, want := range []string{"Would remove 2 snapshots, keep 5:", shortID(oldest), "abababab", "<time datetime=", "Nothing was removed"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("finished preview lacks %q:\n%s", want, res.body)
		}
	}
	if strings.Contains(res.body, "hx-get=") {
		t.Error("a finished preview still polls")
	}
	// Another job is not a preview.
	if res := admin.get(jobPath(host.backup().ID) + "/preview"); res.StatusCode != http.StatusNotFound {
		t.Errorf("backup as preview: %d", res.StatusCode)
	}
}

// TestConfigChangesAreLive: a config change reaches the host page (its
// lists re-read themselves) and the dashboard row (with Next:), and a
// finished backup updates the row's Last: even when no job page is open.
func TestConfigChangesAreLive(t *testing.T) {
	app := newTestApp(t)
	host := app.readyHost("web-01")
	b, _ := app.signedIn("eve", server.RoleViewer)
	fleet := b.openEvents("/events")
	page := b.openEvents("/events?host=" + host.hostID)

	_, err := app.svc.CreateSourceGroup(t.Context(), server.CLIActor(), host.hostID, server.SourceGroupInput{Name: "docs", Paths: []string{"/home"}})
	requireNoError(t, err)
	_, err = app.svc.CreateSchedule(t.Context(), server.CLIActor(), host.hostID, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "docs", Cron: "0 3 * * *"})
	requireNoError(t, err)
	page.next(sseConfigChanged)
	for {
		row := fleet.next(sseHostRow + host.hostID)
		if strings.Contains(row.data, "Next: <time") {
			break
		}
	}
	// Each change may come in its own batch: wait for the one with the schedule.
	for {
		v := page.next(sseVitals)
		if strings.Contains(v.data, "Next: <time") {
			if !strings.Contains(v.data, ">pending<") {
				t.Errorf("vitals:\n%s", v.data)
			}
			break
		}
	}

	job, err := app.svc.CreateJob(t.Context(), server.CLIActor(), host.hostID, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup}, SourceGroup: "docs"})
	requireNoError(t, err)
	host.finish(job, topics.JobSucceeded, nil)
	for {
		row := fleet.next(sseHostRow + host.hostID)
		if strings.Contains(row.data, ">succeeded<") {
			break
		}
	}
}
