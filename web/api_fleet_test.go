package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestAPIHostTags: PUT /api/v1/hosts/{id}/tags replaces a host's tags and
// answers the host with them; GET /api/v1/hosts and /api/v1/hosts/{id}
// carry tags; ?tag= filters the list (folded like a stored tag). A bad tag
// or body is a 400 with one sentence and changes nothing.
func TestAPIHostTags(t *testing.T) {
	app := newTestApp(t)
	api := app.apiClient(servertest.MustCreateUser(t, app.svc, "ada", server.RoleAdmin).Name)
	lyon := app.enrollHost("lyon-1").HostID
	paris := app.enrollHost("paris-1").HostID
	put := func(id, body string) response {
		return api.do(http.MethodPut, "/api/v1/hosts/"+id+"/tags", strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	}

	res := put(lyon, `{"tags":["Site:Lyon","laptop","laptop"]}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT tags: %d %s", res.StatusCode, res.body)
	}
	var host server.Host
	if err := json.Unmarshal([]byte(res.body), &host); err != nil || host.ID != lyon || !slices.Equal(host.Tags, []string{"laptop", "site:lyon"}) {
		t.Fatalf("PUT tags answer: %+v %v", host, err)
	}
	if res := put(paris, `{"tags":["site:paris"]}`); res.StatusCode != http.StatusOK {
		t.Fatal(res.body)
	}

	audits := app.auditCount()
	for body, want := range map[string]string{
		`{"tags":["ok","not ok"]}`: `A tag is 1-40 letters, digits, '.', '_', '-', ':', '/' or '=', starting with a letter or digit (e.g. site:lyon); got "not ok".`,
		`{}`:                       `Send the host's whole tag list as {"tags": ["site:lyon", "laptop"]} ([] removes every tag).`,
		`{"tag":["x"]}`:            `Field "tag" is not known here; check its spelling against /api/v1/openapi.json.`,
	} {
		res := put(lyon, body)
		if e := apiErrorOf(t, res); res.StatusCode != http.StatusBadRequest || e.Message != want {
			t.Errorf("PUT %s: %d %+v, want %q", body, res.StatusCode, e, want)
		}
	}
	if app.auditCount() != audits {
		t.Error("a refused PUT changed something")
	}

	var list struct {
		Hosts []server.Host `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(api.get("/api/v1/hosts?tag=SITE:LYON").body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Hosts) != 1 || list.Hosts[0].ID != lyon || !slices.Equal(list.Hosts[0].Tags, []string{"laptop", "site:lyon"}) {
		t.Errorf("?tag=SITE:LYON: %+v", list.Hosts)
	}
	if err := json.Unmarshal([]byte(api.get("/api/v1/hosts").body), &list); err != nil || len(list.Hosts) != 2 || list.Hosts[1].Tags == nil {
		t.Errorf("all hosts: %+v %v", list.Hosts, err)
	}
	if res := api.get("/api/v1/hosts?tag=" + url.QueryEscape("a b")); res.StatusCode != http.StatusBadRequest {
		t.Errorf("?tag=a b: %d", res.StatusCode)
	}
	if err := json.Unmarshal([]byte(api.get("/api/v1/hosts/"+paris).body), &host); err != nil || !slices.Equal(host.Tags, []string{"site:paris"}) {
		t.Errorf("GET host: %+v %v", host, err)
	}
}

// TestAPIFleetActions: POST /api/v1/fleet/actions runs an action on the
// hosts of a tag or a list and answers per host (the job, or why not). An
// operator may (an admin-only job is refused as a whole: server's
// TestFleetActionRoles), bad options get the single-host job sentences, and
// a viewer may not act at all.
func TestAPIFleetActions(t *testing.T) {
	app := newTestApp(t)
	admin := app.apiClient(servertest.MustCreateUser(t, app.svc, "ada", server.RoleAdmin).Name)
	op := app.apiClient(servertest.MustCreateUser(t, app.svc, "otto", server.RoleOperator).Name)
	viewer := app.apiClient(servertest.MustCreateUser(t, app.svc, "vic", server.RoleViewer).Name)
	a, b := app.readyHost("lyon-1"), app.readyHost("lyon-2")
	bare := app.enrollHost("lyon-3").HostID
	for _, id := range []string{a.hostID, b.hostID, bare} {
		if _, err := app.svc.SetHostTags(t.Context(), server.CLIActor(), id, []string{"site:lyon"}); err != nil {
			t.Fatal(err)
		}
	}

	res := op.postJSON("/api/v1/fleet/actions", `{"action":"backup","tag":"site:lyon","paths":["/etc"],"bandwidth_up_kbps":256,"expires_in":"2h"}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("fleet backup: %d %s", res.StatusCode, res.body)
	}
	var out server.FleetActionResult
	if err := json.Unmarshal([]byte(res.body), &out); err != nil {
		t.Fatal(err)
	}
	if out.ID == "" || out.Action != server.FleetBackup || len(out.Hosts) != 3 {
		t.Fatalf("answer: %s", res.body)
	}
	for i, want := range []string{"lyon-1", "lyon-2"} {
		h := out.Hosts[i]
		if h.Name != want || h.JobID == 0 || !h.Online || h.Refused != "" {
			t.Errorf("%s: %+v", want, h)
		}
		j, err := app.svc.GetJob(t.Context(), h.JobID)
		if err != nil || j.Spec.BandwidthUpKBps != 256 || j.ExpiresAt.Sub(j.CreatedAt).Hours() != 2 {
			t.Errorf("%s job: %+v %v", want, j, err)
		}
	}
	if h := out.Hosts[2]; h.HostID != bare || h.Code != server.CodeInvalid || h.Refused != "Set the host's repository first." || h.JobID != 0 {
		t.Errorf("lyon-3: %+v", h)
	}
	if !strings.Contains(res.body, `"refused":"Set the host's repository first."`) || !strings.Contains(res.body, `"job_id":`) {
		t.Errorf("answer shape: %s", res.body)
	}

	before := a.countJobs()
	for body, want := range map[string]struct {
		status int
		msg    string
	}{
		`{"action":"backup","hosts":["` + a.hostID + `"]}`: {http.StatusBadRequest,
			`A backup needs at least one path (absolute, e.g. ["/etc"]) or a source_group (its id or name).`},
		`{"action":"check","hosts":["` + a.hostID + `"],"kind":"prune"}`: {http.StatusBadRequest,
			"The fleet action is check; leave the job kind out or make it check."},
		`{"action":"pause","hosts":["` + a.hostID + `"],"paths":["/etc"]}`: {http.StatusBadRequest,
			"Pausing or resuming schedules takes no job options; leave them out."},
		`{"action":"reboot","hosts":["` + a.hostID + `"]}`: {http.StatusBadRequest,
			`Unknown fleet action "reboot"; use backup, check, unlock, pause or resume.`},
		`{"action":"check","hosts":["` + a.hostID + `"],"tag":"site:lyon"}`: {http.StatusBadRequest, "Give either hosts, a tag or a filter, not several."},
	} {
		res := op.postJSON("/api/v1/fleet/actions", body)
		if e := apiErrorOf(t, res); res.StatusCode != want.status || e.Message != want.msg {
			t.Errorf("%s: %d %+v, want %d %q", body, res.StatusCode, e, want.status, want.msg)
		}
	}
	if a.countJobs() != before {
		t.Error("a refused fleet action queued a job")
	}
	if res := viewer.postJSON("/api/v1/fleet/actions", `{"action":"check","tag":"site:lyon"}`); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer: %d", res.StatusCode)
	}
	if res := admin.postJSON("/api/v1/fleet/actions", `{"action":"unlock","hosts":["`+a.hostID+`","`+b.hostID+`"]}`); res.StatusCode != http.StatusOK ||
		strings.Count(res.body, `"job_id"`) != 2 {
		t.Errorf("admin unlock: %d %s", res.StatusCode, res.body)
	}
}

// TestDashboardFleet: the dashboard shows each host's tags and filters by
// one; an operator gets the action card (with the per-run bandwidth
// disclosure) and a viewer does not; the form runs an action by tag and
// answers the result per host — the HTMX answer is the result card alone,
// with each job's row following its "job-<id>" event on the jobs stream;
// without HTMX it is the dashboard with the card. Tags are edited on the
// host page by admins.
func TestDashboardFleet(t *testing.T) {
	app := newTestApp(t)
	a, b := app.readyHost("lyon-1"), app.readyHost("paris-1")
	for id, tags := range map[string][]string{a.hostID: {"site:lyon", "laptop"}, b.hostID: {"site:paris"}} {
		if _, err := app.svc.SetHostTags(t.Context(), server.CLIActor(), id, tags); err != nil {
			t.Fatal(err)
		}
	}
	op, csrf := app.signedIn("otto", server.RoleOperator)
	page := op.get("/")
	for _, want := range []string{`href="/?tag=site%3alyon"`, `<option value="site:paris">`, `id="fleet-form"`, `data-can-run`,
		`id="pick-` + a.hostID + `"`, `Limit bandwidth for this run`, `name="bandwidth_up_kbps"`, `value="backup">Back up now`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	filtered := op.get("/?tag=site:lyon").body
	if !strings.Contains(filtered, `id="host-`+a.hostID+`"`) || strings.Contains(filtered, `id="host-`+b.hostID+`"`) {
		t.Error("?tag=site:lyon does not show lyon-1 alone")
	}
	viewer, _ := app.signedIn("vic", server.RoleViewer)
	if body := viewer.get("/").body; strings.Contains(body, `id="fleet-form"`) || strings.Contains(body, "data-can-run") {
		t.Error("a viewer is offered fleet actions")
	}

	form := url.Values{"csrf_token": {csrf}, "target": {"tag"}, "tag": {"site:lyon"}, "action": {"backup"}, "paths": {"/etc\n/home"},
		"bandwidth_up_kbps": {"128"}}
	res := op.do(http.MethodPost, "/fleet/actions", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Hx-Request": {"true"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTMX fleet action: %d %s", res.StatusCode, res.body)
	}
	jobs, err := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: a.hostID, Kind: "backup"})
	if err != nil || len(jobs) != 1 || jobs[0].Spec.BandwidthUpKBps != 128 || !slices.Equal(jobs[0].Spec.Paths, []string{"/etc", "/home"}) {
		t.Fatalf("lyon-1's jobs: %+v %v", jobs, err)
	}
	id := itoa(jobs[0].ID)
	for _, want := range []string{"Back up now on 1 host(s)", `sse-connect="/events?jobs=1"`, `id="fleet-job-` + id + `"`, `sse-swap="job-` + id + `"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("HTMX answer lacks %q:\n%s", want, res.body)
		}
	}
	if strings.Contains(res.body, "<html") {
		t.Error("the HTMX answer is a whole page")
	}
	if n, _ := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: b.hostID, Kind: "backup"}); len(n) != 0 {
		t.Error("paris-1 (not tagged site:lyon) got a backup")
	}

	form = url.Values{"csrf_token": {csrf}, "target": {"picked"}, "host_id": {a.hostID, b.hostID}, "action": {"pause"}}
	res = op.postForm("/fleet/actions", form)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, "Pause schedules on 2 host(s)") ||
		!strings.Contains(res.body, `id="fleet-refused-`+a.hostID+`"`) || !strings.Contains(res.body, "The host has no schedules to pause.") ||
		!strings.Contains(res.body, `hx-get="/"`) {
		t.Errorf("form without HTMX: %d\n%s", res.StatusCode, res.body)
	}
	res = op.postForm("/fleet/actions", url.Values{"csrf_token": {csrf}, "target": {"picked"}, "action": {"check"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Tick at least one host in the table") {
		t.Errorf("nothing ticked: %d", res.StatusCode)
	}

	admin, acsrf := app.signedIn("ada", server.RoleAdmin)
	if body := admin.get("/hosts/" + a.hostID).body; !strings.Contains(body, `id="tags-form"`) || !strings.Contains(body, `value="laptop, site:lyon"`) {
		t.Error("the host page offers an admin no tags form with the host's tags")
	}
	if body := op.get("/hosts/" + a.hostID).body; strings.Contains(body, `id="tags-form"`) || !strings.Contains(body, `href="/?tag=laptop"`) {
		t.Error("an operator sees a tags form, or not the tags")
	}
	res = admin.postForm("/hosts/"+a.hostID+"/tags", url.Values{"csrf_token": {acsrf}, "tags": {"Site:Lyon, server"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save tags: %d %s", res.StatusCode, res.body)
	}
	if h, _ := app.svc.GetHost(t.Context(), a.hostID); !slices.Equal(h.Tags, []string{"server", "site:lyon"}) {
		t.Errorf("tags after the form: %v", h.Tags)
	}
	res = admin.postForm("/hosts/"+a.hostID+"/tags", url.Values{"csrf_token": {acsrf}, "tags": {"fine, not*fine"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, `value="fine, not*fine"`) || !strings.Contains(res.body, "A tag is 1-40") {
		t.Errorf("refused tags: %d", res.StatusCode)
	}
}
