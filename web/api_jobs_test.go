package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestAPIJobValidation: bad job requests get a 4xx {error, message} with
// one sentence, and nothing is queued.
func TestAPIJobValidation(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ops", server.RoleOperator)
	api := app.apiClient("ops")
	host := app.readyHost("web-01")
	path := "/api/v1/hosts/" + host.hostID + "/jobs"
	before := host.countJobs()

	for _, tc := range []struct{ body, want string }{
		{`{"kind":"defragment"}`, "unknown job kind"},
		{`{"kind":"backup"}`, "at least one path"},
		{`{"kind":"backup","paths":[]}`, "at least one path"},
		{`{"kind":"backup","paths":["relative/dir"]}`, "absolute path"},
		{`{"kind":"backup","paths":["/etc"],"excludez":["*.tmp"]}`, "excludez"},
		{`{"kind":"backup","paths":["/etc"],"target":"/tmp"}`, "belong to a restore job"},
		{`{"kind":"backup","paths":["/etc"],"bandwidth_up_kbps":-1}`, "bandwidth"},
		{`{"kind":"backup","paths":["/etc"],"expires_in":"soon"}`, "duration"},
		{`{"kind":"backup","paths":["/etc"],"expires_in":"10ms"}`, "expires_in"},
		{`{"kind":"backup","paths":["/etc"],"expires_in":"800h"}`, "expires_in"},
		{`{"kind":"restore","snapshot":"latest"}`, "target directory"},
		{`{"kind":"restore","snapshot":"latest","target":"restore/here"}`, "absolute path"},
		{`{"kind":"restore","snapshot":"not-an-id","target":"/tmp/r"}`, "snapshot"},
		{`{"kind":"forget"}`, "retention"},
		{`{"kind":"forget","retention":{}}`, "no rule"},
		{`{"kind":"forget","retention":{"keep_daily":7}}`, "keep_daily"},
		{`{"kind":"check","read_data_subset":"lots"}`, "read_data_subset"},
		{`{"kind":"backup","paths":"/etc"}`, "wrong type"},
		{`garbage`, "not valid JSON"},
		{``, "empty"},
		{`{"kind":"unlock"} {"kind":"unlock"}`, "more than one"},
	} {
		res := api.postJSON(path, tc.body)
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Errorf("%s: status %d, want 4xx", tc.body, res.StatusCode)
			continue
		}
		e := apiErrorOf(t, res)
		if !strings.Contains(strings.ToLower(e.Message), strings.ToLower(tc.want)) {
			t.Errorf("%s: message %q, want one sentence about %q", tc.body, e.Message, tc.want)
		}
	}
	if res := api.postJSON("/api/v1/hosts/h_nope/jobs", `{"kind":"unlock"}`); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown host: %d %s", res.StatusCode, res.body)
	}
	bare := app.onlineHost("bare-01")
	if res := api.postJSON("/api/v1/hosts/"+bare.hostID+"/jobs", `{"kind":"backup","paths":["/etc"]}`); res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("backup without a repository: %d %s", res.StatusCode, res.body)
	}
	if after := host.countJobs(); after != before {
		t.Errorf("bad requests queued jobs: %d before, %d after", before, after)
	}
	if n := bare.countJobs(); n != 0 {
		t.Errorf("a host without a repository got %d jobs", n)
	}
}

// TestAPIJobLifecycle covers creating, reading, listing, logging and
// canceling jobs through the API, with the JSON shapes of DESIGN §6.
func TestAPIJobLifecycle(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ops", server.RoleOperator)
	api := app.apiClient("ops")
	host := app.readyHost("web-01")

	res := api.postJSON("/api/v1/hosts/"+host.hostID+"/jobs",
		`{"kind":"backup","paths":["/etc","/home"],"excludes":["*.tmp"],"tags":["manual"],"bandwidth_up_kbps":512,"expires_in":"2h"}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(res.body), &created); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"id", "uid", "host_id", "host_name", "kind", "status", "spec", "created_at", "expires_at", "exit_code", "summary", "snapshot_id", "reason", "log_lines"} {
		if _, ok := created[field]; !ok {
			t.Errorf("created job lacks %q: %s", field, res.body)
		}
	}
	id := int64(created["id"].(float64))
	if created["kind"] != "backup" || created["status"] != "queued" || created["host_id"] != host.hostID || created["exit_code"] != nil {
		t.Errorf("created job = %s", res.body)
	}
	if res.Header.Get("Location") != fmt.Sprintf("/api/v1/jobs/%d", id) {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	if e := app.lastAudit(); e.Actor != "ops" || e.Via != "api" {
		t.Errorf("audit %+v", e)
	}

	// It runs, logs, reports progress and succeeds with a snapshot.
	job := host.start(host.job(id))
	host.logLines(job, 1, "open repository", "start scan on [/etc /home]", "<b>not html</b>")
	host.progress(job, 42, 420, 1000)
	var running struct {
		server.Job
		Progress *apiProgress `json:"progress"`
	}
	if err := json.Unmarshal([]byte(api.get(fmt.Sprintf("/api/v1/jobs/%d", id)).body), &running); err != nil {
		t.Fatal(err)
	}
	if running.Status != topics.JobRunning || running.Progress == nil || running.Progress.Percent != 42 || running.Progress.FilesTotal != 1000 {
		t.Errorf("running job = %+v progress %+v", running.Job, running.Progress)
	}
	snap := strings.Repeat("ab", 32)
	host.finish(job, topics.JobSucceeded, &topics.JobResult{SnapshotID: snap, DurationMS: 61_000,
		Backup: &topics.BackupSummary{FilesNew: 12, FilesChanged: 3, DataAdded: 5 << 20, TotalFilesProcessed: 1000}})

	var done server.Job
	if err := json.Unmarshal([]byte(api.get(fmt.Sprintf("/api/v1/jobs/%d", id)).body), &done); err != nil {
		t.Fatal(err)
	}
	if done.Status != topics.JobSucceeded || done.ExitCode == nil || *done.ExitCode != 0 || done.SnapshotID != snap ||
		done.Summary == nil || done.Summary.Backup == nil || done.Summary.Backup.FilesNew != 12 || !done.Terminal || done.LogLines != 3 {
		t.Errorf("finished job = %+v", done)
	}

	// The log as text, whole or after a line.
	logRes := api.get(fmt.Sprintf("/api/v1/jobs/%d/log", id))
	if logRes.StatusCode != http.StatusOK || !strings.HasPrefix(logRes.Header.Get("Content-Type"), "text/plain") ||
		logRes.body != "open repository\nstart scan on [/etc /home]\n<b>not html</b>\n" || logRes.Header.Get("X-Log-Lines") != "3" {
		t.Errorf("log: %d %q %q", logRes.StatusCode, logRes.Header.Get("Content-Type"), logRes.body)
	}
	if got := api.get(fmt.Sprintf("/api/v1/jobs/%d/log?after=2", id)).body; got != "<b>not html</b>\n" {
		t.Errorf("log after 2: %q", got)
	}
	if res := api.get(fmt.Sprintf("/api/v1/jobs/%d/log?after=x", id)); res.StatusCode != http.StatusBadRequest {
		t.Errorf("log after=x: %d", res.StatusCode)
	}

	// Lists: newest first, filtered.
	other := host.queue(topics.JobSpec{Kind: topics.JobCheck})
	var list struct {
		Jobs       []server.Job `json:"jobs"`
		NextBefore int64        `json:"next_before"`
	}
	decode := func(path string) {
		t.Helper()
		list.Jobs, list.NextBefore = nil, 0
		r := api.get(path)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.StatusCode, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), &list); err != nil {
			t.Fatal(err)
		}
	}
	decode("/api/v1/jobs?host=" + host.hostID)
	if len(list.Jobs) != 3 || list.Jobs[0].ID != other.ID || list.Jobs[1].ID != id || list.Jobs[2].Kind != topics.JobInit {
		t.Errorf("host jobs = %+v", list.Jobs)
	}
	decode("/api/v1/jobs?host=" + host.hostID + "&kind=backup&status=succeeded")
	if len(list.Jobs) != 1 || list.Jobs[0].ID != id {
		t.Errorf("succeeded backups = %+v", list.Jobs)
	}
	decode("/api/v1/jobs?limit=1")
	if len(list.Jobs) != 1 || list.Jobs[0].ID != other.ID || list.NextBefore != other.ID {
		t.Errorf("first page = %+v next %d", list.Jobs, list.NextBefore)
	}
	decode(fmt.Sprintf("/api/v1/jobs?limit=1&before=%d", list.NextBefore))
	if len(list.Jobs) != 1 || list.Jobs[0].ID != id {
		t.Errorf("second page = %+v", list.Jobs)
	}
	for _, bad := range []string{"status=done", "kind=defrag", "limit=0", "limit=501", "before=-3"} {
		if r := api.get("/api/v1/jobs?" + bad); r.StatusCode != http.StatusBadRequest || apiErrorOf(t, r).Error != server.CodeInvalid {
			t.Errorf("list ?%s: %d", bad, r.StatusCode)
		}
	}

	// Cancel: a queued job is canceled at once; a finished one cannot be.
	res = api.postJSON(fmt.Sprintf("/api/v1/jobs/%d/cancel", other.ID), `{}`)
	var canceled server.Job
	if err := json.Unmarshal([]byte(res.body), &canceled); err != nil || res.StatusCode != http.StatusOK || canceled.Status != topics.JobCanceled {
		t.Errorf("cancel queued: %d %s", res.StatusCode, res.body)
	}
	if res := api.postJSON(fmt.Sprintf("/api/v1/jobs/%d/cancel", id), `{}`); res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("cancel finished: %d %s", res.StatusCode, res.body)
	}
	for _, path := range []string{"/api/v1/jobs/99999", "/api/v1/jobs/x", "/api/v1/jobs/99999/log"} {
		if r := api.get(path); r.StatusCode != http.StatusNotFound || apiErrorOf(t, r).Error != server.CodeNotFound {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
	}
}

// TestAPIRepository: PUT sets it and queues init; GET shows its state and
// never a secret; reinit needs the name; bad input changes nothing.
func TestAPIRepository(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "root", server.RoleAdmin)
	api := app.apiClient("root")
	host := app.onlineHost("db-01")
	path := "/api/v1/hosts/" + host.hostID + "/repository"

	res := api.get(path)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"state":"none"`) {
		t.Fatalf("unset repository: %d %s", res.StatusCode, res.body)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"url":"ftp:/not/a/backend","password":"x"}`, "repository URL"},
		{`{"url":"relative/repo","password":"x"}`, "repository URL"},
		{`{"url":"/srv/repo","password":""}`, "password"},
		{`{"url":"/srv/repo","password":"x","env":{"LD_PRELOAD":"/tmp/x.so"}}`, "LD_PRELOAD"},
		{`{"url":"/srv/repo","password":"x","pasword":"y"}`, "pasword"},
		{`{"url":"/srv/repo","password":"` + testRepoPassword + `","env":{"AWS_ACCESS_KEY_ID":"a\nb"}}`, "line break"},
		{`[1]`, "JSON object"},
	} {
		res := api.do(http.MethodPut, path, strings.NewReader(tc.body), http.Header{"Content-Type": {"application/json"}})
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(strings.ToLower(apiErrorOf(t, res).Message), strings.ToLower(tc.want)) {
			t.Errorf("%s: %d %s", tc.body, res.StatusCode, res.body)
		}
		if strings.Contains(res.body, testRepoPassword) {
			t.Errorf("%s: the error echoes the password", tc.body)
		}
	}
	if n := host.countJobs(); n != 0 {
		t.Fatalf("refused repositories queued %d jobs", n)
	}

	body := `{"url":"s3:https://backup:` + testURLSecret + `@s3.example.test/bucket","password":"` + testRepoPassword +
		`","env":{"AWS_ACCESS_KEY_ID":"AKIA1","AWS_SECRET_ACCESS_KEY":"` + testEnvSecret + `"}}`
	res = api.do(http.MethodPut, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("set: %d %s", res.StatusCode, res.body)
	}
	var set struct {
		InitJobID  int64                   `json:"init_job_id"`
		Job        server.Job              `json:"job"`
		Repository server.RepositoryStatus `json:"repository"`
	}
	if err := json.Unmarshal([]byte(res.body), &set); err != nil {
		t.Fatal(err)
	}
	if set.InitJobID == 0 || set.Job.ID != set.InitJobID || set.Job.Kind != topics.JobInit || set.Repository.State != server.RepoInitializing ||
		strings.Join(set.Repository.EnvNames, ",") != "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY" {
		t.Errorf("set answer = %s", res.body)
	}
	assertNoSecrets(t, "PUT answer", res.body)
	if e := app.lastAudit(); e.Actor != "root" || e.Via != "api" {
		t.Errorf("audit %+v", e)
	}

	host.finish(host.job(set.InitJobID), topics.JobSucceeded, &topics.JobResult{RepositoryID: strings.Repeat("c", 64)})
	res = api.get(path)
	var repo server.RepositoryStatus
	if err := json.Unmarshal([]byte(res.body), &repo); err != nil || repo.State != server.RepoReady || repo.InitializedAt == nil || repo.URL == "" {
		t.Errorf("ready repository: %v %s", err, res.body)
	}
	assertNoSecrets(t, "GET repository", res.body)
	assertNoSecrets(t, "jobs list", api.get("/api/v1/jobs?host="+host.hostID).body)
	assertNoSecrets(t, "init job", api.get(fmt.Sprintf("/api/v1/jobs/%d", set.InitJobID)).body)

	// Re-init: the host's name must be typed out.
	reinit := path + "/reinit"
	if res := api.postJSON(reinit, `{"confirm":"db-02"}`); res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("reinit with the wrong name: %d %s", res.StatusCode, res.body)
	}
	res = api.postJSON(reinit, `{"confirm":"db-01"}`)
	var again server.Job
	if err := json.Unmarshal([]byte(res.body), &again); err != nil || res.StatusCode != http.StatusCreated || again.Kind != topics.JobInit || again.ID == set.InitJobID {
		t.Errorf("reinit: %d %s", res.StatusCode, res.body)
	}
	if res := api.get("/api/v1/hosts/h_nope/repository"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown host: %d", res.StatusCode)
	}
}

// TestAPISnapshots: the list the host reported, newest first.
func TestAPISnapshots(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "val", server.RoleViewer)
	api := app.apiClient("val")
	host := app.readyHost("web-01")

	res := api.get("/api/v1/hosts/" + host.hostID + "/snapshots")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"snapshots":[]`) || !strings.Contains(res.body, `"reported_at":null`) {
		t.Fatalf("never reported: %d %s", res.StatusCode, res.body)
	}
	older, newer := host.reportSnapshots(2)
	res = api.get("/api/v1/hosts/" + host.hostID + "/snapshots")
	var list struct {
		HostID     string            `json:"host_id"`
		ReportedAt *string           `json:"reported_at"`
		Snapshots  []server.Snapshot `json:"snapshots"`
	}
	if err := json.Unmarshal([]byte(res.body), &list); err != nil {
		t.Fatal(err)
	}
	if list.HostID != host.hostID || list.ReportedAt == nil || len(list.Snapshots) != 2 || list.Snapshots[0].ID != newer || list.Snapshots[1].ID != older ||
		list.Snapshots[0].ShortID != newer[:8] || len(list.Snapshots[0].Paths) == 0 {
		t.Errorf("snapshots = %s", res.body)
	}
	if res := api.get("/api/v1/hosts/h_nope/snapshots"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown host: %d", res.StatusCode)
	}
}

// assertNoSecrets fails if body carries any of the test repository's secrets.
func assertNoSecrets(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range []string{testRepoPassword, testEnvSecret, testURLSecret} {
		if strings.Contains(body, s) {
			t.Errorf("%s shows the secret %q", what, s)
		}
	}
}

// TestAPIJobExpiresInBounds: expires_in takes the domain's bounds
// (server.MaxJobExpiry): 30 days is accepted, 30 days and a second is a
// 400 naming the field and the limit, and nothing is queued.
func TestAPIJobExpiresInBounds(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ops", server.RoleOperator)
	api := app.apiClient("ops")
	host := app.readyHost("web-01")
	path := "/api/v1/hosts/" + host.hostID + "/jobs"

	max := int64(server.MaxJobExpiry.Seconds())
	before := host.countJobs()
	res := api.postJSON(path, fmt.Sprintf(`{"kind":"unlock","expires_in":%d}`, max+1))
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("30 days + 1 s: status %d %s, want 400", res.StatusCode, res.body)
	}
	e := apiErrorOf(t, res)
	if !strings.Contains(e.Message, "expires_in") || !strings.Contains(e.Message, "30 days") || !strings.HasSuffix(e.Message, "try again.") {
		t.Errorf("30 days + 1 s: message %q, want one sentence naming expires_in and 30 days", e.Message)
	}
	if after := host.countJobs(); after != before {
		t.Errorf("a refused expires_in queued a job: %d before, %d after", before, after)
	}

	res = api.postJSON(path, fmt.Sprintf(`{"kind":"unlock","expires_in":%d}`, max))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("30 days: status %d %s, want 201", res.StatusCode, res.body)
	}
	var created struct {
		CreatedAt time.Time `json:"created_at"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(res.body), &created); err != nil {
		t.Fatal(err)
	}
	if got := created.ExpiresAt.Sub(created.CreatedAt); got != server.MaxJobExpiry {
		t.Errorf("30 days: the job expires %v after its creation, want %v", got, server.MaxJobExpiry)
	}
}
