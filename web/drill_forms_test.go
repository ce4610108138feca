package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestDrillForms: the host page's "Run drill now" and the Schedules tab
// take a drill's sample bounds (files, MB); empty means the defaults, a
// typo is refused with a sentence and queues or stores nothing.
func TestDrillForms(t *testing.T) {
	app := newTestApp(t)
	op, csrf := app.signedIn("ops", server.RoleOperator)
	host := app.readyHost("web-01")
	hostPath := "/hosts/" + host.hostID
	mustContain(t, "host page", op.get(hostPath).body, `name="drill_files"`, `name="drill_max_mb"`, "Run drill now")

	res := op.postForm(hostPath+"/jobs", url.Values{"csrf_token": {csrf}, "kind": {"drill"}, "drill_files": {"3"}, "drill_max_mb": {"5"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("run drill: %d\n%s", res.StatusCode, res.body)
	}
	res = op.postForm(hostPath+"/jobs", url.Values{"csrf_token": {csrf}, "kind": {"drill"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("run drill with the defaults: %d\n%s", res.StatusCode, res.body)
	}
	res = op.postForm(hostPath+"/jobs", url.Values{"csrf_token": {csrf}, "kind": {"drill"}, "drill_files": {"many"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("drill of many files: %d", res.StatusCode)
	}
	mustContain(t, "refused drill", res.body, "number of files must be a whole number", `value="many"`)
	res = op.postForm(hostPath+"/jobs", url.Values{"csrf_token": {csrf}, "kind": {"drill"}, "drill_files": {"1000"}})
	mustContain(t, "drill of too many files", res.body, "between 1 and 100 files")
	drills, _ := app.svc.ListJobs(t.Context(), server.JobFilter{HostID: host.hostID, Kind: topics.JobDrill})
	if len(drills) != 2 {
		t.Fatalf("drills queued: %d, want 2 (refused forms queue nothing)", len(drills))
	}
	for _, j := range drills {
		d := j.Spec.Drill
		bounded := d != nil && d.Files == 3 && d.MaxMB == 5
		if bounded == (d == nil) {
			t.Errorf("drill %d spec %+v: want {3, 5} for one and the defaults (none) for the other", j.ID, d)
		}
	}

	admin, adminCSRF := app.signedIn("ada", server.RoleAdmin)
	form := url.Values{"csrf_token": {adminCSRF}, "kind": {"drill"}, "preset": {"weekly"}, "weekday": {"sunday"}, "time": {"05:00"},
		"drill_files": {"7"}, "drill_max_mb": {"50"}}
	if res := admin.postForm(hostPath+"/schedules", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("drill schedule: %d\n%s", res.StatusCode, res.body)
	}
	bad := url.Values{"csrf_token": {adminCSRF}, "kind": {"drill"}, "preset": {"daily"}, "time": {"01:00"}, "drill_max_mb": {"-3"}}
	res = admin.postForm(hostPath+"/schedules", bad)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "size limit must be a whole number") {
		t.Fatalf("drill schedule of -3 MB: %d\n%s", res.StatusCode, res.body)
	}
	schedules, err := app.svc.ListSchedules(t.Context(), host.hostID)
	if err != nil {
		t.Fatal(err)
	}
	var drill *server.Schedule
	for i := range schedules {
		if schedules[i].Kind == topics.JobDrill {
			if drill != nil {
				t.Fatal("the refused drill schedule was stored")
			}
			drill = &schedules[i]
		}
	}
	if drill == nil || drill.DrillFiles != 7 || drill.DrillMaxMB != 50 {
		t.Fatalf("drill schedule stored %+v, want 7 files, 50 MB", drill)
	}
	mustContain(t, "schedules tab", admin.get(hostPath).body, `name="drill_files" value="7"`, `name="drill_max_mb" value="50"`)
}
