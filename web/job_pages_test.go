package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestHostPageBackupNow: the host page offers Back up now prefilled with
// the last backup's paths; pressing it queues the backup and opens its job
// page; a refused form says why, keeps what was typed and queues nothing.
func TestHostPageBackupNow(t *testing.T) {
	app := newTestApp(t)
	op, csrf := app.signedIn("ops", server.RoleOperator)
	host := app.readyHost("web-01")
	hostPath := "/hosts/" + host.hostID

	page := op.get(hostPath)
	mustContain(t, "host page", page.body, `id="backup-now"`, `name="paths"`, ">Back up now<", "Limit bandwidth for this run",
		`id="repo-state"`, "repository ready", "initialised <time", `id="snapshots"`, `id="maintenance"`, "Refresh list")
	assertNoSecrets(t, "host page", page.body)

	res := op.postForm(hostPath+"/jobs", url.Values{"csrf_token": {csrf}, "kind": {"backup"}, "paths": {"/etc\r\n\r\n/home "},
		"excludes": {"*.tmp"}, "tags": {"manual, pre-upgrade"}, "bandwidth_up_kbps": {"512"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/jobs/") {
		t.Fatalf("back up now: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	jobs, _ := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: host.hostID, Kind: topics.JobBackup})
	if len(jobs) != 1 || res.Header.Get("Location") != jobPath(jobs[0].ID) {
		t.Fatalf("jobs %+v, location %s", jobs, res.Header.Get("Location"))
	}
	spec := jobs[0].Spec
	if strings.Join(spec.Paths, "|") != "/etc|/home" || strings.Join(spec.Tags, "|") != "manual|pre-upgrade" ||
		spec.Excludes[0] != "*.tmp" || spec.BandwidthUpKBps != 512 || jobs[0].CreatedBy != "ops" {
		t.Errorf("queued %+v", jobs[0])
	}
	// The next visit offers the same paths again.
	mustContain(t, "host page after a backup", op.get(hostPath).body, "/etc\n/home</textarea>", "#"+itoa(jobs[0].ID))

	before := host.countJobs()
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"kind": {"backup"}, "paths": {"  "}}, "Enter at least one path"},
		{url.Values{"kind": {"backup"}, "paths": {"etc/relative"}, "tags": {"keep-me"}}, "must be an absolute path"},
		{url.Values{"kind": {"backup"}, "paths": {"/etc"}, "bandwidth_up_kbps": {"fast"}}, "upload limit must be a whole number"},
		{url.Values{"kind": {"restore"}, "snapshot": {"latest"}, "target": {""}}, "Enter the directory on the host"},
		{url.Values{"kind": {"restore"}, "snapshot": {"latest"}, "target": {"restore/here"}}, "must be an absolute path"},
		{url.Values{"kind": {"forget"}}, "Fill in at least one keep rule"},
		{url.Values{"kind": {"forget"}, "keep_daily": {"many"}}, "Keep daily must be a whole number"},
		{url.Values{"kind": {"check"}, "read_data_subset": {"lots"}}, "read_data_subset"},
		{url.Values{"kind": {"defragment"}}, "Unknown job kind"},
		{url.Values{"kind": {"init"}}, "Repository page"},
	} {
		tc.form.Set("csrf_token", csrf)
		res := op.postForm(hostPath+"/jobs", tc.form)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: status %d", tc.form, res.StatusCode)
		}
		mustContain(t, fmt.Sprintf("refused %v", tc.form), res.body, tc.want, `id="backup-now"`)
	}
	res = op.postForm(hostPath+"/jobs", url.Values{"csrf_token": {csrf}, "kind": {"backup"}, "paths": {"etc/relative"}, "tags": {"keep-me"}})
	mustContain(t, "refused backup keeps its values", res.body, "etc/relative</textarea>", `value="keep-me"`)
	if after := host.countJobs(); after != before {
		t.Errorf("refused forms queued jobs: %d -> %d", before, after)
	}

	// Maintenance and Refresh list. Forget removes snapshots, so an admin
	// runs it (TestRoleMatrixJobKinds covers an operator's refusal).
	admin, adminCSRF := app.signedIn("ada", server.RoleAdmin)
	res = admin.postForm(hostPath+"/jobs", url.Values{"csrf_token": {adminCSRF}, "kind": {"forget"}, "keep_daily": {"7"}, "keep_within": {"30d"}, "prune": {"1"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("forget: %d", res.StatusCode)
	}
	forget, _ := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: host.hostID, Kind: topics.JobForget})
	if len(forget) != 1 || forget[0].Spec.Retention.Daily != 7 || forget[0].Spec.Retention.Within != "30d" || !forget[0].Spec.Prune {
		t.Errorf("forget %+v", forget)
	}
	res = op.postForm(hostPath+"/jobs", url.Values{"csrf_token": {csrf}, "kind": {"snapshots"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, hostPath+"?queued=") || !strings.HasSuffix(loc, "#snapshots") {
		t.Errorf("refresh list: %d %s", res.StatusCode, loc)
	}

	// A viewer sees the page without the forms.
	viewer, _ := app.signedIn("val", server.RoleViewer)
	vp := viewer.get(hostPath)
	if strings.Contains(vp.body, `id="backup-now"`) || strings.Contains(vp.body, "Refresh list") || strings.Contains(vp.body, `name="kind"`) {
		t.Error("a viewer is offered job forms")
	}
	mustContain(t, "viewer's host page", vp.body, "can watch backups but not start them")
}

// TestHostPageWithoutRepository: the page says there is none and how to
// set one; Back up now waits for it.
func TestHostPageWithoutRepository(t *testing.T) {
	app := newTestApp(t)
	op, _ := app.signedIn("ops", server.RoleOperator)
	host := app.onlineHost("bare-01")
	page := op.get("/hosts/" + host.hostID)
	mustContain(t, "host page", page.body, "no repository", "set one", `href="/hosts/`+host.hostID+`/repository"`,
		"Set a repository</a> first", "disabled", "none yet")

	// A failed init says so, with the job and what to do.
	job, err := app.svc.SetRepository(t.Context(), server.CLIActor(), host.hostID, server.RepositoryInput{URL: "/srv/r", Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "initializing", op.get("/hosts/"+host.hostID).body, "initializing…", "job "+itoa(job.ID))
	code := 12
	host.finish(job, topics.JobFailed, &topics.JobResult{ExitCode: &code, Reason: "wrong password: the repository password does not open this repository"})
	failed := op.get("/hosts/" + host.hostID).body
	mustContain(t, "failed init", failed, "init failed", `href="/jobs/`+itoa(job.ID)+`"`, ">retry<", "wrong password",
		"The repository's init failed; a backup will likely fail the same way")
	if strings.Contains(failed, "disabled") {
		t.Error("Back up now is disabled after a failed init (unlock or check may be what fixes it)")
	}
}

// TestRepositoryPage: the form sets the repository (write-only: nothing is
// shown back), queues init, and the danger zone re-inits after the name is
// typed out. Refused input keeps nothing and queues nothing.
func TestRepositoryPage(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("root", server.RoleAdmin)
	host := app.onlineHost("db-01")
	path := "/hosts/" + host.hostID + "/repository"

	page := admin.get(path)
	mustContain(t, "empty repository page", page.body, "no repository", "Set the repository", `name="url"`, `name="password"`, `name="env"`, `type="password"`)
	if strings.Contains(page.body, "Danger zone") {
		t.Error("re-init is offered before any repository exists")
	}

	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"url": {""}, "password": {testRepoPassword}}, "Enter the repository URL"},
		{url.Values{"url": {"ftp:/x"}, "password": {testRepoPassword}}, "Repository URL is neither"},
		{url.Values{"url": {"/srv/r"}, "password": {""}}, "Enter the repository password"},
		{url.Values{"url": {"/srv/r"}, "password": {testRepoPassword}, "env": {"AWS_SECRET_ACCESS_KEY " + testEnvSecret}}, "Line 1 of the backend environment is not KEY=VALUE"},
		{url.Values{"url": {"/srv/r"}, "password": {testRepoPassword}, "env": {"LD_PRELOAD=" + testEnvSecret}}, "LD_PRELOAD"},
		{url.Values{"url": {"/srv/r"}, "password": {testRepoPassword}, "env": {"AWS_A=1\nAWS_A=2"}}, "sets AWS_A twice"},
	} {
		tc.form.Set("csrf_token", csrf)
		res := admin.postForm(path, tc.form)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d", tc.form, res.StatusCode)
		}
		mustContain(t, "refused repository", res.body, tc.want)
		assertNoSecrets(t, "refused repository form", res.body)
	}
	if n := host.countJobs(); n != 0 {
		t.Fatalf("refused forms queued %d jobs", n)
	}

	res := admin.postForm(path, url.Values{"csrf_token": {csrf}, "url": {"s3:https://backup:" + testURLSecret + "@s3.example.test/b"},
		"password": {testRepoPassword}, "env": {"# keys\r\nAWS_ACCESS_KEY_ID=AKIA1\r\nAWS_SECRET_ACCESS_KEY=" + testEnvSecret + "\r\n"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), path+"?init=") {
		t.Fatalf("set: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	page = admin.get(res.Header.Get("Location"))
	mustContain(t, "repository page after set", page.body, "init job", "initializing…", "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
		"set <span", "(never shown)", "Danger zone", "Re-initialise repository")
	assertNoSecrets(t, "repository page", page.body)
	assertNoSecrets(t, "host page", admin.get("/hosts/"+host.hostID).body)
	if e := app.lastAudit(); e.Actor != "root" || e.Via != "web" {
		t.Errorf("audit %+v", e)
	}
	inits, _ := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: host.hostID, Kind: topics.JobInit})
	if len(inits) != 1 {
		t.Fatalf("init jobs %+v", inits)
	}
	assertNoSecrets(t, "init job page", admin.get(jobPath(inits[0].ID)).body)

	res = admin.postForm(path+"/reinit", url.Values{"csrf_token": {csrf}, "confirm_name": {"db-02"}})
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("reinit with the wrong name: %d", res.StatusCode)
	}
	res = admin.postForm(path+"/reinit", url.Values{"csrf_token": {csrf}, "confirm_name": {"db-01"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/jobs/") {
		t.Fatalf("reinit: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	viewer, _ := app.signedIn("val", server.RoleViewer)
	vp := viewer.get(path)
	mustContain(t, "viewer's repository page", vp.body, "An admin sets and changes repositories")
	if strings.Contains(vp.body, `name="password"`) {
		t.Error("a viewer is offered the repository form")
	}
}

// TestJobPage: header with the state word, the log, live progress while it
// runs, Cancel for operators, and the summary once it ended.
func TestJobPage(t *testing.T) {
	app := newTestApp(t)
	op, csrf := app.signedIn("ops", server.RoleOperator)
	viewer, _ := app.signedIn("val", server.RoleViewer)
	host := app.readyHost("web-01")
	job := host.backup()

	page := op.get(jobPath(job.ID))
	mustContain(t, "queued job page", page.body, `id="job-status"`, ">queued<", "backup of /etc", `href="/hosts/`+host.hostID+`"`,
		`id="job-log"`, `id="job-progress"`, "waiting to start", `data-percent="0"`, `sse-connect="/events?job=`+itoa(job.ID)+`&after=0"`,
		">Cancel job<", "Waiting for the host to send log lines")
	if strings.Contains(viewer.get(jobPath(job.ID)).body, "Cancel job") {
		t.Error("a viewer is offered Cancel")
	}

	job = host.start(job)
	host.logLines(job, 1, "open repository", "<script>alert(1)</script>")
	host.progress(job, 42.5, 420, 1000)
	page = op.get(jobPath(job.ID))
	mustContain(t, "running job page", page.body, ">running<", `data-n="1"`, `data-n="2"`, "open repository",
		`data-percent="42"`, "42 %", "420 of 1,000 files", "3.0 MiB of 10.0 MiB", "about 1 min 35 s left",
		`&after=2"`)
	if strings.Contains(page.body, "<script>alert") || !strings.Contains(page.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("a log line is not escaped")
	}

	snap := strings.Repeat("9f", 32)
	host.finish(job, topics.JobSucceeded, &topics.JobResult{SnapshotID: snap, DurationMS: 75_000,
		Backup: &topics.BackupSummary{FilesNew: 1200, FilesChanged: 3, FilesUnmodified: 5, DataAdded: 1536 << 10, TotalFilesProcessed: 1208, TotalBytesProcessed: 9 << 20}})
	page = op.get(jobPath(job.ID))
	mustContain(t, "finished job page", page.body, `id="job-status"`, ">succeeded<", `id="job-summary"`, "1,200", "1.5 MiB",
		"1 min 15 s", `href="/hosts/`+host.hostID+`#snapshot-9f9f9f9f"`, `id="job-exit-code">0<`, `data-percent="100"`, "done")
	if strings.Contains(page.body, "Cancel job") {
		t.Error("a finished job offers Cancel")
	}

	// Cancel from the page: a queued job is canceled at once.
	other := host.backup()
	res := op.postForm(jobPath(other.ID)+"/cancel", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != jobPath(other.ID)+"?canceled=1" {
		t.Fatalf("cancel: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	mustContain(t, "canceled job page", op.get(res.Header.Get("Location")).body, ">canceled<")
	if e := app.lastAudit(); e.Actor != "ops" || e.Via != "web" {
		t.Errorf("audit %+v", e)
	}
	res = op.postForm(jobPath(other.ID)+"/cancel", url.Values{"csrf_token": {csrf}})
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("cancel a canceled job: %d", res.StatusCode)
	}
	mustContain(t, "refused cancel", res.body, `id="job-status"`)

	// The full log as text.
	logRes := op.get(jobPath(job.ID) + "/log")
	if logRes.StatusCode != http.StatusOK || logRes.body != "open repository\n<script>alert(1)</script>\n" ||
		!strings.HasPrefix(logRes.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("full log: %d %q %q", logRes.StatusCode, logRes.Header.Get("Content-Type"), logRes.body)
	}
	for _, p := range []string{"/jobs/999999", "/jobs/abc", "/jobs/0"} {
		if res := op.get(p); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
}

// TestJobsPage: the fleet-wide list, newest first, filtered by state, kind
// and host, listening for updates.
func TestJobsPage(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	web := app.readyHost("web-01")
	db := app.readyHost("db-01")
	backup := web.backup()
	web.finish(backup, topics.JobFailed, &topics.JobResult{Reason: "wrong password: check the repository password"})
	check := db.queue(topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: "5%"})

	page := b.get("/jobs")
	mustContain(t, "jobs page", page.body, `sse-connect="/events?jobs=1"`, `id="job-`+itoa(backup.ID)+`"`, `sse-swap="job-`+itoa(backup.ID)+`"`,
		">failed<", "wrong password", ">queued<", "check, reading 5% of the data", "web-01", "db-01", `aria-current="page">Jobs<`)
	if strings.Index(page.body, `id="job-`+itoa(check.ID)+`"`) > strings.Index(page.body, `id="job-`+itoa(backup.ID)+`"`) {
		t.Error("jobs are not newest first")
	}
	filtered := b.get("/jobs?status=failed&kind=backup&host=" + web.hostID)
	mustContain(t, "filtered jobs", filtered.body, `id="job-`+itoa(backup.ID)+`"`, "hide-host", `<option value="failed" selected>`)
	if strings.Contains(filtered.body, `id="job-`+itoa(check.ID)+`"`) {
		t.Error("the filter shows a queued check")
	}
	if res := b.get("/jobs?status=bogus"); res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Unknown status") {
		t.Errorf("bad filter: %d", res.StatusCode)
	}
	running := db.start(db.backup())
	db.progress(running, 12, 12, 100)
	mustContain(t, "jobs page with a running job", b.get("/jobs").body, ">running 12 %<")
	if res := b.get("/jobs?limit=1"); !strings.Contains(res.body, "Older jobs") {
		t.Error("a full page offers no older jobs")
	}
}

// TestJobsPageEmptyStatesTeach: an empty list says how to fill it.
func TestJobsPageEmptyStatesTeach(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	mustContain(t, "empty jobs page", b.get("/jobs").body, "No jobs yet. Open a host from the fleet and press Back up now")
	mustContain(t, "filtered jobs page", b.get("/jobs?kind=prune").body, "No jobs match these filters")
	host := app.onlineHost("new-01")
	mustContain(t, "new host's page", b.get("/hosts/"+host.hostID).body, "No jobs yet. Setting a repository runs the first")
}
