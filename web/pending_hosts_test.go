package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestPendingPanel: the panel appears only while machines wait, shows what
// an admin compares and decides on, and offers the decision only to roles
// that may take it. It listens on a wrapper that its re-reads never replace.
func TestPendingPanel(t *testing.T) {
	app := newTestApp(t)
	admin, _ := app.signedIn("root", server.RoleAdmin)
	viewer, _ := app.signedIn("val", server.RoleViewer)

	home := admin.get("/")
	mustContain(t, "dashboard", home.body, `id="pending"`, `hx-get="/pending-hosts"`, `hx-swap="innerHTML"`, "sse:pending-changed")
	if strings.Contains(home.body, "Pending hosts") {
		t.Fatal("the panel shows while nothing waits")
	}
	if frag := admin.getHX("/pending-hosts"); frag.StatusCode != http.StatusOK || strings.TrimSpace(frag.body) != "" {
		t.Fatalf("empty panel fragment: %d %q", frag.StatusCode, frag.body)
	}

	app.enrollHost("till-3") // its hostname is till-3.lan
	agent, id := app.announce("till-3.lan")
	_, other := app.announce("kiosk")
	fp := agent.Fingerprint()

	res := admin.get("/")
	mustContain(t, "admin's dashboard", res.body, "Pending hosts", "2 waiting", `title="`+fp+`"`,
		"<span>SHA256:</span><wbr><span>"+fp[7:11]+"</span>", "till-3.lan", "linux/arm64", "agent 1.2.3", "restic 0.18.1",
		"198.51.0.2", "first seen <time datetime=", "last seen <time datetime=", "matches an existing host",
		fmt.Sprintf(`action="/pending-hosts/%d/accept"`, id), fmt.Sprintf(`action="/pending-hosts/%d/reject"`, id),
		`name="name" value="till-3.lan"`, `name="csrf_token"`)
	if strings.Count(res.body, "matches an existing host") != 1 {
		t.Error("the collision flag is not on exactly the colliding machine")
	}
	if strings.Index(res.body, "Pending hosts") > strings.Index(res.body, `id="fleet"`) {
		t.Error("the panel is not above the host table")
	}

	for name, body := range map[string]string{"viewer's dashboard": viewer.get("/").body, "viewer's fragment": viewer.getHX("/pending-hosts").body} {
		mustContain(t, name, body, "Pending hosts", fp[7:11], "kiosk", "an admin accepts or rejects them")
		if strings.Contains(body, "/accept") || strings.Contains(body, "/reject") {
			t.Errorf("%s offers a decision", name)
		}
	}
	frag := admin.getHX("/pending-hosts")
	mustContain(t, "admin's fragment", frag.body, fmt.Sprintf(`action="/pending-hosts/%d/accept"`, other))
	if strings.Contains(frag.body, `id="pending"`) || strings.Contains(frag.body, "sse:") {
		t.Error("the fragment replaces the listening wrapper")
	}
}

// TestAcceptAndRejectFromDashboard: the panel's forms accept (the host joins
// the table and the agent gets credentials it can use) and reject (the agent
// is told); a refused name keeps the machine waiting and says why.
func TestAcceptAndRejectFromDashboard(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("root", server.RoleAdmin)
	app.enrollHost("web-01")
	agent, id := app.announce("web-02")
	accept := fmt.Sprintf("/pending-hosts/%d/accept", id)

	res := admin.postForm(accept, url.Values{"csrf_token": {csrf}, "name": {"web-01"}})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("taken name: %d", res.StatusCode)
	}
	mustContain(t, "refused accept", res.body, `A host named "web-01" already exists; pick another name.`, "Pending hosts")
	if res := admin.postForm(accept, url.Values{"csrf_token": {csrf}, "name": {" "}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty name: %d", res.StatusCode)
	}
	if res := admin.postForm(accept, url.Values{"name": {"web-02"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", res.StatusCode)
	}

	res = admin.postForm(accept, url.Values{"csrf_token": {csrf}, "name": {"web-02"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?accepted=1" {
		t.Fatalf("accept: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	home := admin.get("/?accepted=1")
	mustContain(t, "dashboard after accept", home.body, "Accepted. The new host is in the list below", ">web-02<")
	if strings.Contains(home.body, "Pending hosts") {
		t.Error("the accepted machine still waits in the panel")
	}
	st := agent.LastStatus(t, app.pub)
	if st == nil || st.State != topics.AnnounceApproved {
		t.Fatalf("agent status %+v", st)
	}
	creds := agent.Open(t, st)
	if kind, err := app.svc.AuthenticateMQTT(t.Context(), creds.HostID, []byte(creds.MQTTPassword)); err != nil || kind != server.MQTTHost {
		t.Fatalf("credentials do not work: %v", err)
	}
	if e := app.lastAudit(); e.Action != "pending_host.accept" || e.Actor != "root" || e.Via != "web" {
		t.Errorf("audit %+v", e)
	}

	intruder, id := app.announce("intruder")
	res = admin.postForm(fmt.Sprintf("/pending-hosts/%d/reject", id), url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?rejected=1" {
		t.Fatalf("reject: %d", res.StatusCode)
	}
	if st := intruder.LastStatus(t, app.pub); st == nil || st.State != topics.AnnounceRejected {
		t.Fatalf("rejected agent told %+v", st)
	}
	mustContain(t, "dashboard after reject", admin.get("/?rejected=1").body, "Rejected. The machine was told")
	if res := admin.postForm(fmt.Sprintf("/pending-hosts/%d/reject", id), url.Values{"csrf_token": {csrf}}); res.StatusCode != http.StatusConflict {
		t.Errorf("second reject: %d", res.StatusCode)
	}
	if res := admin.postForm("/pending-hosts/x/reject", url.Values{"csrf_token": {csrf}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("bad id: %d", res.StatusCode)
	}
}

// TestPendingEventsStream: fleet pages hear about announces and decisions.
func TestPendingEventsStream(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("watcher", server.RoleViewer)
	fleet := b.openEvents("/events")
	_, id := app.announce("new-box")
	fleet.next(ssePendingChanged)
	if _, err := app.svc.AcceptPendingHost(t.Context(), server.CLIActor(), id, "new-box", nil); err != nil {
		t.Fatal(err)
	}
	fleet.nextAll(ssePendingChanged, sseFleetChanged)
}

// TestAPIPendingHosts covers the JSON API of announce-and-approve and the
// public bootstrap endpoint.
func TestAPIPendingHosts(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	agent, id := app.announce("db-07")

	var list struct {
		PendingHosts []map[string]any `json:"pending_hosts"`
	}
	res := api.get("/api/v1/pending-hosts")
	if err := json.Unmarshal([]byte(res.body), &list); err != nil || len(list.PendingHosts) != 1 {
		t.Fatalf("list: %v %s", err, res.body)
	}
	p := list.PendingHosts[0]
	if p["fingerprint"] != agent.Fingerprint() || p["hostname"] != "db-07" || p["id"] != float64(id) || p["name_conflict"] != false {
		t.Errorf("pending host = %v", p)
	}
	for _, field := range []string{"client_id", "os", "arch", "agent_version", "restic_version", "source_addr", "first_seen", "last_seen", "expires_at"} {
		if _, ok := p[field]; !ok {
			t.Errorf("pending host lacks %q", field)
		}
	}

	accept := fmt.Sprintf("/api/v1/pending-hosts/%d/accept", id)
	res = api.postJSON(accept, `{"name":"db-07","repository":{"url":"ftp:x","password":"p"}}`)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(apiErrorOf(t, res).Message, "Repository URL") {
		t.Fatalf("with a bad repository: %d %s", res.StatusCode, res.body)
	}
	for body, want := range map[string]int{`{}`: 400, `{"name":"a b"}`: 400, `nope`: 400} {
		if res := api.postJSON(accept, body); res.StatusCode != want {
			t.Errorf("accept %s: %d, want %d", body, res.StatusCode, want)
		}
	}
	if res := api.postJSON("/api/v1/pending-hosts/999/accept", `{"name":"x"}`); res.StatusCode != http.StatusNotFound ||
		apiErrorOf(t, res).Error != server.CodeNotFound {
		t.Errorf("unknown id: %d", res.StatusCode)
	}
	res = api.postJSON(accept, `{"name":"db-07","repository":null}`)
	var got struct {
		HostID string `json:"host_id"`
		Name   string `json:"name"`
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.StatusCode != http.StatusOK || got.Name != "db-07" || got.HostID != agent.Open(t, agent.LastStatus(t, app.pub)).HostID {
		t.Fatalf("accept: %d %s", res.StatusCode, res.body)
	}
	if strings.Contains(res.body, "password") {
		t.Error("the accept answer carries a secret")
	}
	if res := api.get("/api/v1/pending-hosts"); !strings.HasPrefix(strings.TrimSpace(res.body), `{"pending_hosts":[],"queue":{"waiting":0,`) {
		t.Errorf("after accept: %s", res.body)
	}
	if res := api.postJSON(fmt.Sprintf("/api/v1/pending-hosts/%d/reject", id), `{}`); res.StatusCode != http.StatusConflict {
		t.Errorf("reject after accept: %d", res.StatusCode)
	}

	// Bootstrap needs no credentials.
	res = app.browser().get("/api/v1/agents/bootstrap")
	var boot topics.BootstrapResponse
	if err := json.Unmarshal([]byte(res.body), &boot); err != nil || res.StatusCode != http.StatusOK ||
		boot.MQTTURL != "mqtts://rm.example.test:8883" || boot.CAFingerprint != testFingerprint || !strings.Contains(boot.CACert, "BEGIN CERTIFICATE") {
		t.Fatalf("bootstrap: %d %s", res.StatusCode, res.body)
	}
}

// TestAcceptWithRepository: the Accept form and API take an optional
// repository; it is set with the host and its init job is queued. A bad
// one refuses the whole accept (the machine keeps waiting) and is never
// echoed back.
func TestAcceptWithRepository(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("root", server.RoleAdmin)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	stillPending := func(id int64) bool {
		list, err := app.svc.ListPendingHosts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			if p.ID == id {
				return true
			}
		}
		return false
	}
	initialising := func(hostID string) {
		t.Helper()
		repo, err := app.svc.GetRepository(t.Context(), hostID)
		if err != nil || repo.State != server.RepoInitializing || repo.InitJobID == 0 || strings.Join(repo.EnvNames, ",") != "AWS_SECRET_ACCESS_KEY" {
			t.Fatalf("repository of the accepted host: %+v %v", repo, err)
		}
		job, err := app.svc.GetJob(t.Context(), repo.InitJobID)
		if err != nil || job.Kind != topics.JobInit || job.HostID != hostID {
			t.Fatalf("init job %+v %v", job, err)
		}
	}

	// The dashboard form.
	_, id := app.announce("till-3")
	form := fmt.Sprintf("/pending-hosts/%d/accept", id)
	res := admin.postForm(form, url.Values{"csrf_token": {csrf}, "name": {"till-3"}, "repo_url": {"/srv/restic"},
		"repo_password": {testRepoPassword}, "repo_env": {"AWS_SECRET_ACCESS_KEY " + testEnvSecret}})
	if res.StatusCode != http.StatusBadRequest || !stillPending(id) {
		t.Fatalf("bad env: %d, pending %v", res.StatusCode, stillPending(id))
	}
	mustContain(t, "refused accept", res.body, "Line 1 of the backend environment is not KEY=VALUE", "Repository (optional)", `name="repo_password"`)
	assertNoSecrets(t, "refused accept", res.body)
	res = admin.postForm(form, url.Values{"csrf_token": {csrf}, "name": {"till-3"}, "repo_url": {"/srv/restic"}, "repo_password": {""}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Enter the repository password") {
		t.Fatalf("repository without password: %d", res.StatusCode)
	}
	res = admin.postForm(form, url.Values{"csrf_token": {csrf}, "name": {"till-3"}, "repo_url": {"s3:https://u:" + testURLSecret + "@s3.example.test/b"},
		"repo_password": {testRepoPassword}, "repo_env": {"AWS_SECRET_ACCESS_KEY=" + testEnvSecret}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept with repository: %d\n%s", res.StatusCode, res.body)
	}
	hosts, _ := app.svc.ListHosts(t.Context())
	var formHost string
	for _, h := range hosts {
		if h.Name == "till-3" {
			formHost = h.ID
		}
	}
	initialising(formHost)
	assertNoSecrets(t, "dashboard", admin.get("/?accepted=1").body)

	// The API.
	_, id = app.announce("till-4")
	path := fmt.Sprintf("/api/v1/pending-hosts/%d/accept", id)
	res = api.postJSON(path, `{"name":"till-4","repository":{"url":"/srv/r","password":"`+testRepoPassword+`","env":{"PATH":"/tmp"}}}`)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(apiErrorOf(t, res).Message, "PATH") || !stillPending(id) {
		t.Fatalf("bad env name: %d %s", res.StatusCode, res.body)
	}
	assertNoSecrets(t, "refused API accept", res.body)
	res = api.postJSON(path, `{"name":"till-4","repository":{"url":"/srv/r","password":"`+testRepoPassword+`","env":{"AWS_SECRET_ACCESS_KEY":"`+testEnvSecret+`"}}}`)
	var got struct {
		HostID    string `json:"host_id"`
		Name      string `json:"name"`
		InitJobID int64  `json:"init_job_id"`
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.StatusCode != http.StatusOK || got.Name != "till-4" || got.InitJobID == 0 {
		t.Fatalf("API accept with repository: %d %s", res.StatusCode, res.body)
	}
	assertNoSecrets(t, "API accept", res.body)
	initialising(got.HostID)
}
