package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// put sends a JSON body with PUT.
func (c *client) put(path, body string) response {
	return c.do(http.MethodPut, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
}

// flippedDiscovery is the opposite of the current Home Assistant switch,
// so that every allowed call in the role matrix changes it (one audit row).
func (a *testApp) flippedDiscovery() bool {
	a.t.Helper()
	m, err := a.svc.MonitorSettings(a.t.Context())
	if err != nil {
		a.t.Fatal(err)
	}
	return !m.HADiscovery
}

// monitorRoleCases are the role matrix's monitor feed settings (#13):
// admins only, reading them too (they say how the fleet is exposed).
func monitorRoleCases() []roleCase {
	admin := server.PermAdmin
	return []roleCase{
		{http.MethodPost, "/admin/settings/monitor", admin, true, 303, func(app *testApp, c *client, csrf string, _ int) response {
			v := "0"
			if app.flippedDiscovery() {
				v = "1"
			}
			return c.postForm("/admin/settings/monitor", url.Values{"csrf_token": {csrf}, "ha_discovery": {v}})
		}},
		{http.MethodGet, "/api/v1/settings/monitor", admin, false, 200, func(_ *testApp, c *client, _ string, _ int) response {
			return c.get("/api/v1/settings/monitor")
		}},
		{http.MethodPut, "/api/v1/settings/monitor", admin, true, 200, func(app *testApp, c *client, _ string, _ int) response {
			return c.put("/api/v1/settings/monitor", `{"ha_discovery":`+strconv.FormatBool(app.flippedDiscovery())+`}`)
		}},
	}
}

// TestMonitorSettingsAPI: GET answers the switch and the fixed prefix, PUT
// takes what GET gave, a change is audited once and an unchanged PUT writes
// nothing; a prefix outside the monitor tree, a missing switch and an
// unknown field are refused with a sentence and change nothing.
func TestMonitorSettingsAPI(t *testing.T) {
	app := newTestApp(t)
	b, csrf := app.signedIn("admin", server.RoleAdmin)
	adm := app.apiClient("admin")
	read := func() server.MonitorSettings {
		t.Helper()
		res := adm.get("/api/v1/settings/monitor")
		var m server.MonitorSettings
		if res.StatusCode != 200 || json.Unmarshal([]byte(res.body), &m) != nil {
			t.Fatalf("GET: %d %s", res.StatusCode, res.body)
		}
		return m
	}
	got := read()
	if got.HADiscovery || got.HAPrefix != topics.HADiscoveryPrefix {
		t.Fatalf("default settings %+v", got)
	}
	on, _ := json.Marshal(server.MonitorSettings{HADiscovery: true, HAPrefix: got.HAPrefix})
	before := app.auditCount()
	if res := adm.put("/api/v1/settings/monitor", string(on)); res.StatusCode != 200 || !strings.Contains(res.body, `"ha_discovery":true`) {
		t.Fatalf("PUT on: %d %s", res.StatusCode, res.body)
	}
	if e := app.lastAudit(); app.auditCount() != before+1 || e.Action != "settings.monitor" {
		t.Errorf("audit after PUT: %d rows, last %+v", app.auditCount()-before, e)
	}
	if res := adm.put("/api/v1/settings/monitor", string(on)); res.StatusCode != 200 || app.auditCount() != before+1 {
		t.Errorf("unchanged PUT: %d %s, audit rows %d", res.StatusCode, res.body, app.auditCount()-before)
	}
	for body, want := range map[string]string{
		`{"ha_discovery":false,"ha_prefix":"homeassistant"}`: "discovery prefix is fixed",
		`{"ha_prefix":"` + topics.HADiscoveryPrefix + `"}`:   "ha_discovery",
		`{"ha_discovery":false,"prefix":"x"}`:                "prefix",
		`{"ha_discovery":"no"}`:                              "",
	} {
		res := adm.put("/api/v1/settings/monitor", body)
		if e := apiErrorOf(t, res); res.StatusCode != 400 || e.Error != server.CodeInvalid || !strings.Contains(res.body, want) {
			t.Errorf("PUT %s: %d %s", body, res.StatusCode, res.body)
		}
	}
	if !read().HADiscovery || app.auditCount() != before+1 {
		t.Error("a refused PUT changed the settings")
	}

	// The users page shows the switch and the prefix to give Home Assistant.
	page := b.get("/admin/users")
	if !strings.Contains(page.body, `id="ha-discovery-form"`) || !strings.Contains(page.body, topics.HADiscoveryPrefix) {
		t.Fatalf("users page lacks the Home Assistant card:\n%s", page.body)
	}
	res := b.postForm("/admin/settings/monitor", url.Values{"csrf_token": {csrf}, "ha_discovery": {"0"}})
	if res.StatusCode != 303 || read().HADiscovery {
		t.Fatalf("form off: %d %s", res.StatusCode, res.body)
	}
	if page := b.get(res.Header.Get("Location")); !strings.Contains(page.body, "Home Assistant discovery is off") {
		t.Errorf("no notice after turning it off:\n%s", page.body)
	}
}
