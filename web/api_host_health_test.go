package web

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestAPIHostHealth: GET /api/v1/hosts and /hosts/{id} carry the health
// fields, computed with the service's clock; PUT .../alerting sets the
// host's own threshold and answers the host under it; the fleet's
// thresholds are read and changed at /api/v1/settings/alerting; bad
// bodies are refused with a sentence and change nothing.
func TestAPIHostHealth(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ada", server.RoleAdmin)
	api := app.apiClient("ada")
	f := app.readyHost("srv")
	ctx := t.Context()
	if _, err := app.svc.CreateSourceGroup(ctx, server.CLIActor(), f.hostID, server.SourceGroupInput{Name: "etc", Paths: []string{"/etc"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.svc.CreateSchedule(ctx, server.CLIActor(), f.hostID, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "etc", Cron: "0 3 * * *"}); err != nil {
		t.Fatal(err)
	}
	// The agent reports a backup that finished 31 h ago (it says when).
	j := f.start(f.backup())
	finished := time.Now().UTC().Add(-31 * time.Hour).Truncate(time.Second)
	f.seq++
	f.send(topics.JobEventTopic(f.hostID, j.UID), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.hostID), Seq: f.seq,
		Job: j.UID, Version: j.Version + 1, State: topics.JobSucceeded, At: finished, Result: &topics.JobResult{ExitCode: new(int)}})

	type health struct {
		ID                       string     `json:"id"`
		Health                   string     `json:"health"`
		LastSuccessAt            *time.Time `json:"last_success_at"`
		Overdue                  bool       `json:"overdue"`
		NextRunAt                *time.Time `json:"next_run_at"`
		ExpectedIntervalSeconds  *int64     `json:"expected_interval_seconds"`
		OverdueAfterSeconds      int64      `json:"overdue_after_seconds"`
		OfflineAlertAfterSeconds int64      `json:"offline_alert_after_seconds"`
		Alerting                 struct {
			OverdueAfterSeconds      *int64 `json:"overdue_after_seconds"`
			OfflineAlertAfterSeconds *int64 `json:"offline_alert_after_seconds"`
		} `json:"alerting"`
	}
	decode := func(r response, v any) {
		t.Helper()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), v); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
	}
	one := func() health {
		t.Helper()
		var h health
		decode(api.get("/api/v1/hosts/"+f.hostID), &h)
		return h
	}
	h := one()
	if h.Health != "overdue" || !h.Overdue || h.LastSuccessAt == nil || !h.LastSuccessAt.Equal(finished) || h.NextRunAt == nil || h.NextRunAt.Hour() != 3 ||
		h.ExpectedIntervalSeconds == nil || *h.ExpectedIntervalSeconds != 86400 || h.OverdueAfterSeconds != 30*3600 ||
		h.OfflineAlertAfterSeconds != 86400 || h.Alerting.OverdueAfterSeconds != nil || h.Alerting.OfflineAlertAfterSeconds != nil {
		t.Fatalf("31 h after a success on a daily schedule: %+v", h)
	}
	var list struct{ Hosts []health }
	decode(api.get("/api/v1/hosts"), &list)
	if len(list.Hosts) != 1 || !reflect.DeepEqual(list.Hosts[0], h) {
		t.Fatalf("the list says otherwise: %+v, want %+v", list.Hosts, h)
	}

	put := func(path, body string) response {
		return api.do(http.MethodPut, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	}
	for _, bad := range []string{`{"overdue_after_seconds":172800}`, `{"overdue_after_seconds":10,"offline_alert_after_seconds":null}`,
		`{"overdue_after_seconds":null,"offline_alert_after_seconds":null,"offline":1}`, `{"overdue_after_seconds":"2d","offline_alert_after_seconds":null}`} {
		r := put("/api/v1/hosts/"+f.hostID+"/alerting", bad)
		if e := apiErrorOf(t, r); r.StatusCode != http.StatusBadRequest || e.Error != "invalid" || e.Message == "" {
			t.Errorf("%s: %d %s", bad, r.StatusCode, r.body)
		}
	}
	if h := one(); h.Alerting.OverdueAfterSeconds != nil || !h.Overdue {
		t.Fatalf("after refusals: %+v", h)
	}
	var set health
	decode(put("/api/v1/hosts/"+f.hostID+"/alerting", `{"overdue_after_seconds":172800,"offline_alert_after_seconds":null}`), &set)
	if set.ID != f.hostID || set.Overdue || set.Health != "ok" || set.OverdueAfterSeconds != 172800 || set.Alerting.OverdueAfterSeconds == nil {
		t.Fatalf("after its own 48 h: %+v", set)
	}

	var g server.AlertingSettings
	decode(api.get("/api/v1/settings/alerting"), &g)
	if g.OverdueAfterSeconds != 26*3600 || g.OfflineAlertAfterSeconds != 24*3600 {
		t.Fatalf("defaults: %+v", g)
	}
	decode(put("/api/v1/settings/alerting", `{"overdue_after_seconds":7200,"offline_alert_after_seconds":604800}`), &g)
	if r := put("/api/v1/settings/alerting", `{"overdue_after_seconds":7200}`); r.StatusCode != http.StatusBadRequest {
		t.Errorf("one field: %d %s", r.StatusCode, r.body)
	}
	decode(api.get("/api/v1/settings/alerting"), &g)
	if g.OverdueAfterSeconds != 7200 || g.OfflineAlertAfterSeconds != 604800 {
		t.Fatalf("after PUT: %+v", g)
	}
	if h := one(); h.OfflineAlertAfterSeconds != 604800 || h.OverdueAfterSeconds != 172800 {
		t.Fatalf("the host's own threshold wins, the fleet's offline one applies: %+v", h)
	}
}
