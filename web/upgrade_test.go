package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// newUpgradeApp serves a linux/amd64 agent build of version 0.2.0; the
// test app enrolls hosts as linux/amd64 agents of 0.1.0.
func newUpgradeApp(t *testing.T) *testApp {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "restic-manager-agent-linux-amd64"), []byte("agent 0.2.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("0.2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return newTestApp(t, func(c *Config) { c.AgentBinaries = NewAgentBinaries(dir) })
}

// TestUpgradeRoutesRoles drives the upgrade routes (#11, in notInMatrix)
// as every role: only admins may ask for an upgrade; everyone may read
// the state. An admin's request leaves one audit row and sends the command.
func TestUpgradeRoutesRoles(t *testing.T) {
	app := newUpgradeApp(t)
	host := app.enrollHost("web-01").HostID
	for _, role := range []server.Role{server.RoleViewer, server.RoleOperator} {
		b, csrf := app.signedIn(string(role), role)
		api := app.apiClient(string(role))
		before := app.auditCount()
		for _, res := range []response{
			api.postJSON("/api/v1/hosts/"+host+"/upgrade", `{}`),
			api.postJSON("/api/v1/agents/upgrade", `{"outdated": true}`),
			b.postForm("/hosts/"+host+"/upgrade", url.Values{"csrf_token": {csrf}}),
			b.postForm("/agents/upgrade", url.Values{"csrf_token": {csrf}, "outdated": {"1"}}),
		} {
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("%s: %s %s: status %d, want 403\n%s", role, res.Request.Method, res.Request.URL.Path, res.StatusCode, res.body)
			}
		}
		if app.auditCount() != before {
			t.Fatalf("%s: a forbidden upgrade changed something", role)
		}
		if res := api.get("/api/v1/hosts/" + host + "/upgrade"); res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"outdated":true`) {
			t.Fatalf("%s reads the upgrade state: %d %s", role, res.StatusCode, res.body)
		}
	}

	app.signedIn("admin", server.RoleAdmin)
	admin := app.apiClient("admin")
	before := app.auditCount()
	res := admin.postJSON("/api/v1/hosts/"+host+"/upgrade", `{}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("admin upgrade: %d %s", res.StatusCode, res.body)
	}
	var u server.AgentUpgrade
	if err := json.Unmarshal([]byte(res.body), &u); err != nil || u.ToVersion != "0.2.0" || u.FromVersion != "0.1.0" || u.State != topics.UpgradeRequested {
		t.Fatalf("answer %s (%v)", res.body, err)
	}
	if app.auditCount() != before+1 || app.lastAudit().Action != "agent.upgrade" {
		t.Fatalf("audit rows %d -> %d, last %+v; want one agent.upgrade row", before, app.auditCount(), app.lastAudit())
	}
	msgs := app.pub.On(topics.CmdTopic(host))
	var cmd topics.Upgrade
	if len(msgs) == 0 || topics.DecodeFrom(msgs[len(msgs)-1].Payload, host, &cmd) != nil || cmd.ID != u.UpgradeID ||
		cmd.Path != "/agent/binary?arch=amd64&os=linux" || cmd.Size != int64(len("agent 0.2.0")) {
		t.Fatalf("command sent %+v (of %d messages)", cmd, len(msgs))
	}
}

func TestUpgradeAPIRefusals(t *testing.T) {
	app := newUpgradeApp(t)
	app.signedIn("admin", server.RoleAdmin)
	admin := app.apiClient("admin")
	for body, want := range map[string]string{
		`{}`: "Name the hosts to upgrade",
		`{"host_ids": ["h_x"], "outdated": true}`: "not both",
		`{"hosts": ["h_x"]}`:                      "",
	} {
		res := admin.postJSON("/api/v1/agents/upgrade", body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, want) {
			t.Errorf("%s: %d %s, want 400 saying %q", body, res.StatusCode, res.body, want)
		}
	}
	mac := app.enrollHost("mac-01").HostID
	if _, err := app.svc.DB().ExecContext(t.Context(), `UPDATE hosts SET os = 'darwin' WHERE id = ?`, mac); err != nil {
		t.Fatal(err)
	}
	res := admin.postJSON("/api/v1/hosts/"+mac+"/upgrade", `{}`)
	if res.StatusCode != http.StatusConflict || !strings.Contains(res.body, "no agent build for darwin/amd64") {
		t.Fatalf("a host without a build: %d %s", res.StatusCode, res.body)
	}
}

// TestUpgradeDashboard: the fleet view shows an outdated host with its
// badge; admins get the upgrade card, viewers do not; "Upgrade all
// outdated" asks every outdated host and the rows then show the request.
func TestUpgradeDashboard(t *testing.T) {
	app := newUpgradeApp(t)
	host := app.enrollHost("web-01").HostID
	viewer, _ := app.signedIn("viewer", server.RoleViewer)
	page := viewer.get("/")
	if !strings.Contains(page.body, ">outdated</span>") || strings.Contains(page.body, "Upgrade all outdated") {
		t.Fatalf("viewer's fleet view: outdated badge %v, upgrade card %v", strings.Contains(page.body, ">outdated</span>"),
			strings.Contains(page.body, "Upgrade all outdated"))
	}
	admin, csrf := app.signedIn("admin", server.RoleAdmin)
	page = admin.get("/")
	if !strings.Contains(page.body, "Upgrade all outdated") || !strings.Contains(page.body, `formaction="/hosts/`+host+`/upgrade"`) ||
		!strings.Contains(page.body, `name="host_id" value="`+host+`"`) {
		t.Fatalf("admin's fleet view has no upgrade card:\n%s", page.body)
	}
	res := admin.postForm("/agents/upgrade", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Tick the hosts") {
		t.Fatalf("nothing selected: %d", res.StatusCode)
	}
	res = admin.postForm("/agents/upgrade", url.Values{"csrf_token": {csrf}, "outdated": {"1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?upgrades=1&skipped=0" {
		t.Fatalf("upgrade all outdated: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	page = admin.get("/")
	if !strings.Contains(page.body, "upgrade to 0.2.0 requested") {
		t.Fatalf("the fleet view does not show the request:\n%s", page.body)
	}
	hostPage := admin.get("/hosts/" + host)
	if !strings.Contains(hostPage.body, "upgrade to 0.2.0 requested") || !strings.Contains(hostPage.body, `action="/hosts/`+host+`/upgrade"`) {
		t.Fatal("the host page shows neither the upgrade state nor the admin's upgrade form")
	}
}
