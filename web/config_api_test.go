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

func TestPresetCron(t *testing.T) {
	minute := func(n int) *int { return &n }
	for _, tc := range []struct {
		in   schedulePreset
		cron string
		err  string
	}{
		{schedulePreset{Preset: "hourly", Minute: minute(15)}, "15 * * * *", ""},
		{schedulePreset{Preset: "hourly"}, "0 * * * *", ""},
		{schedulePreset{Preset: "daily", Time: "03:00"}, "0 3 * * *", ""},
		{schedulePreset{Preset: "Daily", Time: "3:07"}, "7 3 * * *", ""},
		{schedulePreset{Preset: "daily", Time: "23:59"}, "59 23 * * *", ""},
		{schedulePreset{Preset: "weekly", Time: "22:30", Weekday: "monday"}, "30 22 * * 1", ""},
		{schedulePreset{Preset: "weekly", Time: "04:00", Weekday: "Sun"}, "0 4 * * 0", ""},
		{schedulePreset{Preset: "weekly", Time: "04:00", Weekday: "6"}, "0 4 * * 6", ""},
		{schedulePreset{Preset: "custom", Cron: " 30 2 * * 1-5 "}, "30 2 * * 1-5", ""},
		{schedulePreset{Cron: "@daily"}, "@daily", ""},
		{schedulePreset{Preset: "hourly", Minute: minute(60)}, "", "0 to 59"},
		{schedulePreset{Preset: "daily", Time: "24:00"}, "", "HH:MM"},
		{schedulePreset{Preset: "daily", Time: "3"}, "", "HH:MM"},
		{schedulePreset{Preset: "daily"}, "", "HH:MM"},
		{schedulePreset{Preset: "weekly", Time: "04:00", Weekday: "someday"}, "", "weekday"},
		{schedulePreset{Preset: "custom"}, "", "cron expression"},
		{schedulePreset{Preset: "fortnightly"}, "", "preset"},
	} {
		got, err := tc.in.cron()
		if tc.err != "" {
			if err == nil || !strings.Contains(server.PublicMessage(err), tc.err) {
				t.Errorf("%+v: err %v, want one about %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.cron {
			t.Errorf("%+v: %q, %v; want %q", tc.in, got, err, tc.cron)
		}
		// What cron() writes reads back as the same preset.
		if tc.in.Preset != "custom" && tc.in.Preset != "" {
			if p := presetOf(got); !strings.EqualFold(p.Preset, tc.in.Preset) {
				t.Errorf("presetOf(%q) = %+v, want %s", got, p, tc.in.Preset)
			}
		}
	}
}

func TestScheduleWords(t *testing.T) {
	for _, tc := range []struct{ cron, zone, want string }{
		{"0 3 * * *", "Europe/Berlin", "daily at 03:00 (Europe/Berlin)"},
		{"15 * * * *", "", "hourly at :15 (UTC)"},
		{"30 22 * * 1", "UTC", "weekly on Monday at 22:30 (UTC)"},
		{"0 4 * * 7", "UTC", "weekly on Sunday at 04:00 (UTC)"},
		{"@daily", "", "daily at 00:00 (UTC)"},
		{"30 2 * * 1-5", "America/New_York", "cron 30 2 * * 1-5 (America/New_York)"},
		{"03 3 * * *", "", "cron 03 3 * * * (UTC)"},
	} {
		if got := scheduleWords(tc.cron, tc.zone); got != tc.want {
			t.Errorf("scheduleWords(%q, %q) = %q, want %q", tc.cron, tc.zone, got, tc.want)
		}
	}
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(15 * time.Hour), "03:00"},
		{now.Add(63 * time.Hour), "Thu 03:00"},
		{now.Add(20 * 24 * time.Hour), "30 Mar 12:00"},
	} {
		if got := clockTime(tc.t, now); got != tc.want {
			t.Errorf("clockTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

// TestAPISourceGroups creates a group with a preset schedule, reads it by
// number and by name, replaces it with a cron schedule and deletes it.
func TestAPISourceGroups(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	host := app.readyHost("web-01")
	base := "/api/v1/hosts/" + host.hostID + "/source-groups"

	res := api.postJSON(base, `{"name":"docs","paths":["/home/docs"],"excludes":["*.tmp"],"exclude_files":["/etc/rx.txt"],
		"exclude_caches":true,"one_file_system":true,"tags":["office"],"retention":{"daily":7,"weekly":4},"forget_after_backup":true,
		"schedules":[{"preset":"daily","time":"03:00","time_zone":"Europe/Berlin","jitter_seconds":600,"catch_up":true}]}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	var g server.SourceGroup
	if err := json.Unmarshal([]byte(res.body), &g); err != nil {
		t.Fatal(err)
	}
	if g.Key != fmt.Sprintf("sg_%d", g.ID) || g.Name != "docs" || g.Paths[0] != "/home/docs" || !g.ExcludeCaches || !g.OneFileSystem ||
		g.Retention == nil || g.Retention.Daily != 7 || !g.ForgetAfterBackup || g.LastBackup != nil {
		t.Errorf("group = %+v", g)
	}
	if res.Header.Get("Location") != fmt.Sprintf("%s/%d", base, g.ID) {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	if len(g.Schedules) != 1 {
		t.Fatalf("schedules = %+v", g.Schedules)
	}
	s := g.Schedules[0]
	if s.Cron != "0 3 * * *" || s.TimeZone != "Europe/Berlin" || s.JitterSeconds != 600 || !s.CatchUp || s.Paused ||
		s.Next == nil || s.Description != "daily at 03:00 (Europe/Berlin)" || s.SourceGroupName != "docs" {
		t.Errorf("schedule = %+v", s)
	}
	if berlin, _ := time.LoadLocation("Europe/Berlin"); s.Next != nil && s.Next.In(berlin).Format("15:04") != "03:00" {
		t.Errorf("next run %v is not 03:00 in Berlin", s.Next)
	}
	// Lists are never null in JSON.
	for _, key := range []string{`"paths":[`, `"excludes":[`, `"tags":[`, `"schedules":[`, `"last_backup":null`} {
		if !strings.Contains(res.body, key) {
			t.Errorf("body lacks %s: %s", key, res.body)
		}
	}

	for _, path := range []string{fmt.Sprintf("%s/%d", base, g.ID), base + "/docs"} {
		if res := api.get(path); res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"name":"docs"`) {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, res.body)
		}
	}
	if res := api.get(base); res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"source_groups":[{`) {
		t.Errorf("list: %d %s", res.StatusCode, res.body)
	}

	// A schedule with its id updates it.
	res = api.do(http.MethodPut, base+"/docs", strings.NewReader(fmt.Sprintf(`{"name":"documents","paths":["/srv/docs"],
		"schedules":[{"id":%d,"cron":"30 1 * * *"}]}`, s.ID)), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("put: %d %s", res.StatusCode, res.body)
	}
	var g2 server.SourceGroup
	_ = json.Unmarshal([]byte(res.body), &g2)
	if g2.ID != g.ID || g2.Name != "documents" || len(g2.Schedules) != 1 || g2.Schedules[0].ID != s.ID ||
		g2.Schedules[0].Cron != "30 1 * * *" || g2.Schedules[0].TimeZone != "UTC" || g2.Retention != nil {
		t.Errorf("after put: %+v", g2)
	}
	// Without a schedule the schedules stay.
	res = api.do(http.MethodPut, base+"/documents", strings.NewReader(`{"name":"documents","paths":["/srv"]}`), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK || len(host.schedules()) != 1 {
		t.Errorf("put without schedule: %d %s; schedules %+v", res.StatusCode, res.body, host.schedules())
	}

	if res := api.do(http.MethodDelete, base+"/documents", nil, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.StatusCode, res.body)
	}
	if res := api.get(base + "/documents"); res.StatusCode != http.StatusNotFound {
		t.Errorf("deleted group: %d", res.StatusCode)
	}
	if n := len(host.schedules()); n != 0 {
		t.Errorf("%d schedules left after deleting their group", n)
	}
}

// TestAPIConfigValidation: bad bodies are 4xx {error, message} with one
// sentence, and nothing is stored.
func TestAPIConfigValidation(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	host, _, sched := app.groupHost("web-01", false)
	groups := "/api/v1/hosts/" + host.hostID + "/source-groups"
	schedules := "/api/v1/hosts/" + host.hostID + "/schedules"
	before := app.auditCount()

	put := func(path, body string) response {
		return api.do(http.MethodPut, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	}
	post := func(path, body string) response { return api.postJSON(path, body) }
	for _, tc := range []struct {
		call       func(path, body string) response
		path, body string
		want       string
	}{
		{post, groups, `{"name":"x","paths":["/a"],"pathz":[]}`, "pathz"},
		{post, groups, `{"name":"x","paths":["relative"]}`, "absolute"},
		{post, groups, `{"name":"x","paths":[]}`, "no paths"},
		{post, groups, `{"name":"x"}`, "no paths"},
		{post, groups, `{"name":"","paths":["/a"]}`, "names are"},
		{post, groups, `{"name":"a/b","paths":["/a"]}`, "names are"},
		{post, groups, `{"name":"docs","paths":["/a"]}`, "docs"}, // taken
		{post, groups, `{"name":"x","paths":["/a"],"retention":{}}`, "no rule"},
		{post, groups, `{"name":"x","paths":["/a"],"retention":{"keep_daily":7}}`, "keep_daily"},
		{post, groups, `{"name":"x","paths":["/a"],"forget_after_backup":true}`, "retention"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"cron":"every day"}]}`, "cron"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"cron":"TZ=UTC 0 3 * * *"}]}`, "cron"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"preset":"daily","time":"25:00"}]}`, "HH:MM"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"preset":"daily","time":"03:00","time_zone":"Mars/Base"}]}`, "time zone"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"preset":"daily","time":"03:00","jitter_seconds":99999}]}`, "jitter"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"preset":"daily","tme":"03:00"}]}`, "tme"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":7}`, "schedules"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"preset":"daily","time":3}]}`, "wrong type"},
		{post, groups, `{"name":"x","paths":["/a"],"schedules":[{"kind":"prune","cron":"0 3 * * *"}]}`, "backups"},
		{post, groups, `{"name":"x","paths":["/a"],"schedule":"0 3 * * *"}`, "schedule"}, // the old field: one shape now
		{put, groups + "/nope", `{"name":"nope","paths":["/a"]}`, "source group"},
		{put, groups + "/docs", `{"name":"docs","paths":["/a"],"schedules":[{"preset":"weekly","time":"03:00","weekday":"caturday"}]}`, "weekday"},
		{put, groups + "/docs", fmt.Sprintf(`{"name":"docs","paths":["/a"],"schedules":[{"id":%d,"cron":"0 4 * * *"},{"id":999,"cron":"0 5 * * *"}]}`, sched.ID), "not one of this group's"},
		{post, groups + "/docs/retention-preview", `{}`, "retention"},
		{post, groups + "/docs/retention-preview", `{"retention":{}}`, "no rule"},
		{post, groups + "/docs/retention-preview", `{"retention":{"within":"forever"}}`, "within"},
		{post, schedules, `{"kind":"backup","preset":"daily","time":"03:00"}`, "source group"},
		{post, schedules, `{"kind":"prune","source_group":"docs","preset":"daily","time":"03:00"}`, "whole host"},
		{post, schedules, `{"kind":"restore","cron":"0 3 * * *"}`, "backup, forget, prune, check or drill"},
		{post, schedules, `{"kind":"backup","source_group":"docs","cron":"0 3 * * *","read_data_subset":"10%"}`, "read_data_subset"},
		{post, schedules, `{"kind":"check","cron":"61 3 * * *"}`, "cron"},
		{post, schedules, `{"kind":"backup","source_group":"nope","cron":"0 3 * * *"}`, "source group"},
		{post, schedules, `{"kind":"check","cron":"0 3 * * *","every":"day"}`, "every"},
		{put, fmt.Sprintf("%s/%d", schedules, sched.ID), `{"kind":"check"}`, "preset"},
		{put, schedules + "/sch_x", `{"kind":"check","cron":"0 3 * * *"}`, "schedule"},
		{put, schedules + "/999999", `{"kind":"check","cron":"0 3 * * *"}`, "schedule"},
		{put, "/api/v1/hosts/" + host.hostID + "/bandwidth", `{"up_kbps":-1}`, "bandwidth"},
		{put, "/api/v1/hosts/" + host.hostID + "/bandwidth", `{"up":5}`, "up"},
		{put, "/api/v1/hosts/" + host.hostID + "/bandwidth", `{"up_kbps":"fast"}`, "wrong type"},
	} {
		res := tc.call(tc.path, tc.body)
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Errorf("%s %s: status %d, want 4xx\n%s", tc.path, tc.body, res.StatusCode, res.body)
			continue
		}
		e := apiErrorOf(t, res)
		if !strings.Contains(strings.ToLower(e.Message), strings.ToLower(tc.want)) || !strings.HasSuffix(e.Message, ".") {
			t.Errorf("%s %s: message %q, want one sentence about %q", tc.path, tc.body, e.Message, tc.want)
		}
	}
	if after := app.auditCount(); after != before {
		t.Errorf("audit rows %d -> %d: refused requests changed something", before, after)
	}
	if g := host.groups(); len(g) != 1 || g[0].Name != "docs" || len(g[0].Paths) != 1 {
		t.Errorf("groups changed: %+v", g)
	}
	if s := host.schedules(); len(s) != 1 || s[0].Cron != "0 3 * * *" {
		t.Errorf("schedules changed: %+v", s)
	}
}

// TestAPISchedulesAndBandwidth covers host-wide schedules, pause/resume by
// an operator, and the bandwidth caps.
func TestAPISchedulesAndBandwidth(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	servertest.MustCreateUser(t, app.svc, "ops", server.RoleOperator)
	api, ops := app.apiClient("ci"), app.apiClient("ops")
	host, _, backup := app.groupHost("web-01", false)
	base := "/api/v1/hosts/" + host.hostID + "/schedules"

	res := api.postJSON(base, `{"kind":"check","read_data_subset":"5%","preset":"weekly","weekday":"sunday","time":"04:30","time_zone":"UTC","catch_up":false}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	var s server.Schedule
	_ = json.Unmarshal([]byte(res.body), &s)
	if s.Kind != topics.JobCheck || s.Cron != "30 4 * * 0" || s.CatchUp || s.ReadDataSubset != "5%" || s.Next == nil || s.Next.Weekday() != time.Sunday {
		t.Errorf("check schedule = %+v", s)
	}

	res = ops.postJSON(fmt.Sprintf("%s/%d/pause", base, backup.ID), ``)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"paused":true`) || !strings.Contains(res.body, `"next":null`) {
		t.Errorf("pause: %d %s", res.StatusCode, res.body)
	}
	res = ops.postJSON(fmt.Sprintf("%s/sch_%d/resume", base, backup.ID), ``)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"paused":false`) || strings.Contains(res.body, `"next":null`) {
		t.Errorf("resume: %d %s", res.StatusCode, res.body)
	}
	if res := ops.do(http.MethodDelete, fmt.Sprintf("%s/%d", base, s.ID), nil, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("operator deleted a schedule: %d", res.StatusCode)
	}

	res = api.get(base)
	if res.StatusCode != http.StatusOK || strings.Count(res.body, `"kind":`) != 2 {
		t.Errorf("list: %d %s", res.StatusCode, res.body)
	}
	res = api.do(http.MethodPut, fmt.Sprintf("%s/%d", base, s.ID), strings.NewReader(`{"kind":"prune","preset":"hourly","minute":5}`),
		http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"cron":"5 * * * *"`) || !strings.Contains(res.body, `"kind":"prune"`) {
		t.Errorf("put: %d %s", res.StatusCode, res.body)
	}
	if res := api.do(http.MethodDelete, fmt.Sprintf("%s/%d", base, s.ID), nil, nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d %s", res.StatusCode, res.body)
	}

	res = api.do(http.MethodPut, "/api/v1/hosts/"+host.hostID+"/bandwidth", strings.NewReader(`{"up_kbps":1024}`), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"bandwidth_up_kbps":1024`) || !strings.Contains(res.body, `"bandwidth_down_kbps":0`) ||
		!strings.Contains(res.body, `"pending":true`) {
		t.Errorf("bandwidth: %d %s", res.StatusCode, res.body)
	}
	if res := api.get("/api/v1/hosts/" + host.hostID); !strings.Contains(res.body, `"config":{"desired":`) || !strings.Contains(res.body, `"bandwidth_up_kbps":1024`) {
		t.Errorf("host JSON lacks its config status: %s", res.body)
	}
}

// TestAPIJobsFromSourceGroups: a backup takes a source group (by id or
// name) instead of paths, with the per-run bandwidth override; neither or
// both is refused.
func TestAPIJobsFromSourceGroups(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ops", server.RoleOperator)
	api := app.apiClient("ops")
	host, g, _ := app.groupHost("web-01", false)
	path := "/api/v1/hosts/" + host.hostID + "/jobs"
	for _, ref := range []string{"docs", fmt.Sprint(g.ID)} {
		res := api.postJSON(path, `{"kind":"backup","source_group":"`+ref+`","bandwidth_up_kbps":256}`)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("backup of %s: %d %s", ref, res.StatusCode, res.body)
		}
		var j server.Job
		_ = json.Unmarshal([]byte(res.body), &j)
		if len(j.Spec.Paths) != 1 || j.Spec.Paths[0] != "/home/docs" || j.Spec.BandwidthUpKBps != 256 || !j.Spec.ExcludeCaches {
			t.Errorf("job spec from group %s: %+v", ref, j.Spec)
		}
	}
	before := host.countJobs()
	for _, tc := range []struct{ body, want string }{
		{`{"kind":"backup"}`, "source_group"},
		{`{"kind":"backup","paths":["/etc"],"source_group":"docs"}`, "not both"},
		{`{"kind":"check","source_group":"docs"}`, "backup job"},
		{`{"kind":"backup","source_group":"nope"}`, "source group"},
	} {
		res := api.postJSON(path, tc.body)
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Errorf("%s: status %d", tc.body, res.StatusCode)
			continue
		}
		if e := apiErrorOf(t, res); !strings.Contains(strings.ToLower(e.Message), tc.want) {
			t.Errorf("%s: %q, want about %q", tc.body, e.Message, tc.want)
		}
	}
	if n := host.countJobs(); n != before {
		t.Errorf("refused jobs were queued: %d -> %d", before, n)
	}
}
