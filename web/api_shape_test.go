package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// roundTrip GETs path, PUTs the body back unchanged to putPath and
// requires 200, the same answer as the GET, the same GET afterwards and
// no audit row: the API reads and writes one shape of the resource.
func roundTrip(t *testing.T, app *testApp, api *client, path, putPath string) string {
	t.Helper()
	got := api.get(path)
	if got.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, got.StatusCode, got.body)
	}
	audit := app.auditCount()
	put := api.do(http.MethodPut, putPath, strings.NewReader(got.body), http.Header{"Content-Type": {"application/json"}})
	if put.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s of what GET %s answered: %d %s\nbody: %s", putPath, path, put.StatusCode, put.body, got.body)
	}
	if put.body != got.body {
		t.Errorf("PUT %s answered another shape or value:\nGET %s\nPUT %s", putPath, got.body, put.body)
	}
	if again := api.get(path); again.body != got.body {
		t.Errorf("an unchanged PUT %s changed the resource:\nbefore %s\nafter  %s", putPath, got.body, again.body)
	}
	if n := app.auditCount(); n != audit {
		t.Errorf("an unchanged PUT %s wrote %d audit rows", putPath, n-audit)
	}
	return got.body
}

// TestAPISourceGroupRoundTrip (#12.2): what GET answers for a source group
// (with its schedules and, for an admin, its hook bodies) is a body PUT
// takes, and putting it back changes nothing — not updated_at, not the
// config version, no audit row.
func TestAPISourceGroupRoundTrip(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	host := app.readyHost("web-01")
	base := "/api/v1/hosts/" + host.hostID + "/source-groups"

	res := api.postJSON(base, `{"name":"docs","paths":["/home/docs"],"excludes":["*.tmp"],"tags":["office"],
		"retention":{"daily":7,"weekly":4},"forget_after_backup":true,"pre_hook":"echo pre",
		"schedules":[{"preset":"daily","time":"03:00","time_zone":"Europe/Berlin","jitter_seconds":600},
			{"cron":"15 * * * *","catch_up":false,"paused":true}]}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	version := configVersion(t, app, host.hostID)
	body := roundTrip(t, app, api, base+"/docs", base+"/docs")
	for _, key := range []string{`"source_group":"docs"`, `"time_zone":"UTC"`, `"description":"daily at 03:00 (Europe/Berlin)"`,
		`"pre_hook":"echo pre"`, `"post_hook":""`, `"has_pre_hook":true`, `"last_backup":null`, `"next":null`, `"last":null`} {
		if !strings.Contains(body, key) {
			t.Errorf("GET lacks %s: %s", key, body)
		}
	}
	if v := configVersion(t, app, host.hostID); v != version {
		t.Errorf("config version %d → %d after an unchanged PUT", version, v)
	}

	// The same shape changes it: drop the hourly schedule, rename.
	g := host.groups()[0]
	put := fmt.Sprintf(`{"name":"documents","paths":["/home/docs"],"schedules":[{"id":%d,"cron":"0 4 * * *","time_zone":"Europe/Berlin"}]}`,
		g.Schedules[0].ID)
	res = api.do(http.MethodPut, base+"/docs", strings.NewReader(put), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"name":"documents"`) || strings.Count(res.body, `"cron":`) != 1 ||
		!strings.Contains(res.body, fmt.Sprintf(`"id":%d,"key":"sch_%d"`, g.Schedules[0].ID, g.Schedules[0].ID)) {
		t.Fatalf("put: %d %s", res.StatusCode, res.body)
	}
	if v := configVersion(t, app, host.hostID); v != version+1 {
		t.Errorf("config version %d → %d after one save of a group and its schedules", version, v)
	}
}

// TestAPIScheduleRoundTrip (#12.2): a schedule as GET lists it is a body
// PUT takes, and putting it back changes nothing.
func TestAPIScheduleRoundTrip(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	host, _, backup := app.groupHost("web-01", false)
	base := "/api/v1/hosts/" + host.hostID + "/schedules"
	res := api.postJSON(base, `{"kind":"check","read_data_subset":"5%","cron":"30 4 * * 0","catch_up":false}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	for _, s := range host.schedules() {
		path := fmt.Sprintf("%s/%d", base, s.ID)
		roundTripOne(t, app, api, base, path, s.ID)
	}
	if s := host.schedules(); s[0].ID != backup.ID || s[0].SourceGroupName != "docs" || s[0].Cron != "0 3 * * *" {
		t.Errorf("schedules after unchanged PUTs: %+v", s)
	}
}

// roundTripOne is roundTrip for a resource without a GET of its own: the
// list's entry with the id is PUT back and must come back the same.
func roundTripOne(t *testing.T, app *testApp, api *client, list, path string, id int64) string {
	t.Helper()
	res := api.get(list)
	var l struct {
		Schedules []json.RawMessage `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(res.body), &l); err != nil {
		t.Fatal(err)
	}
	var entry string
	for _, raw := range l.Schedules {
		if strings.HasPrefix(string(raw), fmt.Sprintf(`{"id":%d,`, id)) {
			entry = string(raw)
		}
	}
	if entry == "" {
		t.Fatalf("GET %s lacks %d: %s", list, id, res.body)
	}
	audit := app.auditCount()
	put := api.do(http.MethodPut, path, strings.NewReader(entry), http.Header{"Content-Type": {"application/json"}})
	if put.StatusCode != http.StatusOK || put.body != entry {
		t.Fatalf("PUT %s of its own listing: %d\nsent     %s\nanswered %s", path, put.StatusCode, entry, put.body)
	}
	if again := api.get(list); again.body != res.body {
		t.Errorf("an unchanged PUT %s changed the list:\nbefore %s\nafter  %s", path, res.body, again.body)
	}
	if n := app.auditCount(); n != audit {
		t.Errorf("an unchanged PUT %s wrote %d audit rows", path, n-audit)
	}
	return entry
}

// configVersion is the host's desired config version.
func configVersion(t *testing.T, app *testApp, hostID string) int64 {
	t.Helper()
	st, err := app.svc.GetConfigStatus(t.Context(), hostID)
	if err != nil {
		t.Fatal(err)
	}
	return st.Desired
}

// TestAPIUserAndHostHooksRoundTrip (#12.2): a user and a host's default
// hooks as GET answers them are bodies PUT takes, and putting them back
// changes nothing (no audit row).
func TestAPIUserAndHostHooksRoundTrip(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	otto := servertest.MustCreateUser(t, app.svc, "otto", server.RoleOperator)
	api := app.apiClient("ci")
	host := app.readyHost("web-01")

	user := fmt.Sprintf("/api/v1/users/%d", otto.ID)
	roundTrip(t, app, api, user, user)
	res := api.do(http.MethodPut, user, strings.NewReader(`{"role":"viewer","disabled":true}`), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"role":"viewer"`) || !strings.Contains(res.body, `"disabled":true`) {
		t.Fatalf("PUT a change: %d %s", res.StatusCode, res.body)
	}
	roundTrip(t, app, api, user, user)

	hooks := "/api/v1/hosts/" + host.hostID + "/hooks"
	res = api.do(http.MethodPut, hooks, strings.NewReader(`{"pre_hook":"echo pre","hook_timeout_seconds":120}`), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT hooks: %d %s", res.StatusCode, res.body)
	}
	if body := roundTrip(t, app, api, hooks, hooks); !strings.Contains(body, `"pre_hook":"echo pre"`) || !strings.Contains(body, `"has_pre_hook":true`) {
		t.Errorf("hooks: %s", body)
	}
}
