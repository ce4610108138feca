package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestAPIFleetSummary: GET /api/v1/fleet/summary counts what the
// dashboard's strip shows — online from the live presence at once (before
// any flush), offline, never connected, every health state — and with a
// filter how many hosts match it; an unknown or paging parameter is a 400
// with one sentence; a caller without a token is refused.
func TestAPIFleetSummary(t *testing.T) {
	app := newTestApp(t)
	api := app.apiClient(servertest.MustCreateUser(t, app.svc, "val", server.RoleViewer).Name)
	on := app.enrollHost("web-01").HostID
	off := app.enrollHost("db-01").HostID
	app.enrollHost("new-01")
	app.svc.Presence().Connected(on, 1, "192.0.2.1:1")
	app.svc.Presence().Connected(off, 1, "192.0.2.2:1")
	app.svc.Presence().Disconnected(off, 1)
	if _, err := app.svc.SetHostTags(t.Context(), server.CLIActor(), on, []string{"site:lyon"}); err != nil {
		t.Fatal(err)
	}

	var got apiFleetSummaryAnswer
	res := api.get("/api/v1/fleet/summary")
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(res.body), &got) != nil {
		t.Fatalf("GET /api/v1/fleet/summary: %d %s", res.StatusCode, res.body)
	}
	if got.Total != 3 || got.Online != 1 || got.Offline != 1 || got.NeverConnected != 1 || got.Matching != nil || got.Pending != 0 {
		t.Errorf("summary %+v (%s), want 3 hosts: 1 online, 1 offline, 1 never connected, no matching", got, res.body)
	}
	sum := 0
	for _, s := range server.HealthStates {
		n, ok := got.Health[s]
		if !ok {
			t.Errorf("health state %q missing from %s", s, res.body)
		}
		sum += n
	}
	if sum != got.Total {
		t.Errorf("the health counts add up to %d, want %d: %s", sum, got.Total, res.body)
	}

	// The filters read the stored rows, presence as of the last flush
	// (at most FlushEvery old, like the host list's state filter).
	if err := app.svc.Presence().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int{"tag=SITE:LYON": 1, "state=online": 1, "q=01": 3, "os=plan9": 0} {
		var f apiFleetSummaryAnswer
		res := api.get("/api/v1/fleet/summary?" + q)
		if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(res.body), &f) != nil || f.Matching == nil || *f.Matching != want || f.Total != 3 {
			t.Errorf("?%s: %d %s, want matching %d of 3", q, res.StatusCode, res.body, want)
		}
	}
	for q, want := range map[string]string{
		"limit=5":       `Unknown parameter "limit"; the fleet summary takes q, tag, state, health and os.`,
		"state=asleep":  `The state filter is online or offline, not "asleep".`,
		"tag=a&tag=b":   "Give the parameter tag once, not 2 times.",
		"health=broken": `The health filter is ok, overdue, failing, offline or pending, not "broken".`,
	} {
		res := api.get("/api/v1/fleet/summary?" + q)
		if e := apiErrorOf(t, res); res.StatusCode != http.StatusBadRequest || e.Message != want {
			t.Errorf("?%s: %d %+v, want %q", q, res.StatusCode, e, want)
		}
	}
	if res := app.browser().get("/api/v1/fleet/summary"); res.StatusCode != http.StatusUnauthorized || strings.Contains(res.body, `"online"`) {
		t.Errorf("without a token: %d %s", res.StatusCode, res.body)
	}
}
