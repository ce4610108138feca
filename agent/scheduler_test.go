package agent

import (
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLatestSlot(t *testing.T) {
	for _, tc := range []struct {
		cron, zone, after, now, want string
	}{
		{"* * * * *", "", "2026-03-01T10:00:30Z", "2026-03-01T12:34:56Z", "2026-03-01T12:34:00Z"},
		{"0 * * * *", "", "2026-03-01T01:30:00Z", "2026-03-01T04:30:00Z", "2026-03-01T04:00:00Z"},
		{"0 * * * *", "", "2026-03-01T04:00:00Z", "2026-03-01T04:30:00Z", ""}, // the slot was run
		{"0 3 * * *", "Europe/Berlin", "2026-02-20T00:00:00Z", "2026-03-01T12:00:00Z", "2026-03-01T02:00:00Z"},
		{"0 3 * * *", "Europe/Berlin", "2026-03-01T12:00:00Z", "2026-03-01T13:00:00Z", ""}, // none since
		{"0 0 1 1 *", "", "2020-01-01T00:00:00Z", "2026-03-01T12:00:00Z", "2026-01-01T00:00:00Z"},
		{"0 0 30 2 *", "", "2020-01-01T00:00:00Z", "2026-03-01T12:00:00Z", ""}, // never fires
	} {
		sch := topics.Schedule{ID: "sch_1", Kind: topics.JobPrune, Cron: tc.cron, TimeZone: tc.zone}
		c, err := sch.Parse()
		if err != nil {
			t.Fatal(err)
		}
		got := latestSlot(c, mustTime(t, tc.after), mustTime(t, tc.now))
		if want := tc.want; (want == "" && !got.IsZero()) || (want != "" && !got.Equal(mustTime(t, want))) {
			t.Errorf("%s in %q after %s, now %s: got %v, want %q", tc.cron, tc.zone, tc.after, tc.now, got, want)
		}
	}
}

func TestNextSlotNeverRepeatsASlot(t *testing.T) {
	sch := topics.Schedule{ID: "sch_1", Kind: topics.JobPrune, Cron: "0 * * * *"}
	c, _ := sch.Parse()
	last := mustTime(t, "2026-03-01T04:00:00Z")
	// The clock went back an hour: the next slot is still after the last run.
	if got := nextSlot(c, last, mustTime(t, "2026-03-01T03:10:00Z")); !got.Equal(mustTime(t, "2026-03-01T05:00:00Z")) {
		t.Fatalf("clock back: %v", got)
	}
	if got := nextSlot(c, last, mustTime(t, "2026-03-01T07:10:00Z")); !got.Equal(mustTime(t, "2026-03-01T08:00:00Z")) {
		t.Fatalf("later: %v", got)
	}
}

func TestScheduleStateSync(t *testing.T) {
	t0 := mustTime(t, "2026-03-01T00:00:00Z")
	st := scheduleState{Schedules: map[string]scheduleRecord{}}
	a := topics.Schedule{ID: "sch_1", Kind: topics.JobPrune, Cron: "0 * * * *"}
	b := topics.Schedule{ID: "sch_2", Kind: topics.JobCheck, Cron: "0 3 * * *", Paused: true}
	if !st.sync([]topics.Schedule{a, b}, t0) || !st.Schedules["sch_1"].Since.Equal(t0) || !st.Schedules["sch_2"].Paused {
		t.Fatalf("first sight: %+v", st)
	}
	r := st.Schedules["sch_1"]
	r.LastSlot = t0.Add(time.Hour)
	st.Schedules["sch_1"] = r
	t1 := t0.Add(2 * time.Hour)
	if st.sync([]topics.Schedule{a, b}, t1) {
		t.Fatal("nothing changed, yet sync says so")
	}
	b.Paused = false
	a.Cron = "30 * * * *"
	if !st.sync([]topics.Schedule{a, b}, t1) {
		t.Fatal("resume and cron change not seen")
	}
	if r := st.Schedules["sch_1"]; !r.Since.Equal(t1) || !r.LastSlot.IsZero() || r.Cron != a.Cron {
		t.Fatalf("changed cron does not start afresh: %+v", r)
	}
	if r := st.Schedules["sch_2"]; !r.Since.Equal(t1) || r.Paused {
		t.Fatalf("resumed schedule: %+v", r)
	}
	if !st.sync([]topics.Schedule{b}, t1) || len(st.Schedules) != 1 {
		t.Fatalf("removed schedule kept: %+v", st)
	}
	data, _ := jsonMarshalState(st)
	back, err := decodeScheduleState(data)
	if err != nil || !back.Schedules["sch_2"].Since.Equal(t1) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

// testScheduler is a scheduler whose clock the test passes in.
func testScheduler(t *testing.T, dir string) *scheduler {
	a := &Agent{cfg: &Config{StateDir: dir, HostID: "h_1"}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return newScheduler(a, nil)
}

func configWith(v int64, schedules ...topics.Schedule) *topics.Config {
	return &topics.Config{Version: v, Schedules: schedules}
}

// Catch-up with a fake clock: the agent "down" across three slots runs
// once at start, for the latest; a new schedule does not catch up; a
// paused one is not planned; a new config replaces the plan; the state
// survives a restart (a new scheduler on the same directory).
func TestSchedulerCatchUpOnceAndReplan(t *testing.T) {
	dir := t.TempDir()
	hourly := topics.Schedule{ID: "sch_1", Kind: topics.JobPrune, Cron: "0 * * * *", CatchUp: true}
	noCatch := topics.Schedule{ID: "sch_2", Kind: topics.JobCheck, Cron: "0 * * * *"}
	paused := topics.Schedule{ID: "sch_3", Kind: topics.JobCheck, Cron: "* * * * *", CatchUp: true, Paused: true}
	cfg := configWith(1, hourly, noCatch, paused)

	t0 := mustTime(t, "2026-03-01T01:30:00Z")
	s := testScheduler(t, dir)
	s.replan(cfg, t0)
	if len(s.plan) != 2 || s.plan["sch_1"].catchUp || !s.plan["sch_1"].due.Equal(mustTime(t, "2026-03-01T02:00:00Z")) || s.plan["sch_3"] != nil {
		t.Fatalf("first plan: %+v", s.plan)
	}
	if due := s.takeDue(t0.Add(29 * time.Minute)); len(due) != 0 {
		t.Fatalf("due early: %+v", due)
	}
	due := s.takeDue(mustTime(t, "2026-03-01T02:00:00Z"))
	if len(due) != 2 || !s.plan["sch_1"].slot.Equal(mustTime(t, "2026-03-01T03:00:00Z")) {
		t.Fatalf("at 02:00: %+v, plan %+v", due, s.plan)
	}

	// "Down" from 02:00:01 to 05:30: a new scheduler reads the state.
	s = testScheduler(t, dir)
	now := mustTime(t, "2026-03-01T05:30:00Z")
	s.replan(cfg, now)
	p := s.plan["sch_1"]
	if !p.catchUp || !p.slot.Equal(mustTime(t, "2026-03-01T05:00:00Z")) || !p.due.Equal(now) {
		t.Fatalf("catch-up plan: %+v", p)
	}
	if q := s.plan["sch_2"]; q.catchUp || !q.slot.Equal(mustTime(t, "2026-03-01T06:00:00Z")) {
		t.Fatalf("a schedule without catch-up: %+v", q)
	}
	due = s.takeDue(now)
	if len(due) != 1 || due[0].sch.ID != "sch_1" || !due[0].catchUp {
		t.Fatalf("catch-up runs: %+v", due)
	}
	if p := s.plan["sch_1"]; p.catchUp || !p.slot.Equal(mustTime(t, "2026-03-01T06:00:00Z")) {
		t.Fatalf("after the catch-up: %+v", p)
	}
	// Restarting again at once: the catch-up is recorded, nothing runs.
	s = testScheduler(t, dir)
	s.replan(cfg, now.Add(time.Minute))
	if due := s.takeDue(now.Add(time.Minute)); len(due) != 0 || s.plan["sch_1"].catchUp {
		t.Fatalf("second start caught up again: %+v", due)
	}

	// A new config: sch_1 paused, sch_2 to minutely, sch_3 resumed (no
	// catch-up of what it missed while paused), a new schedule.
	hourly.Paused, noCatch.Cron, paused.Paused = true, "* * * * *", false
	fresh := topics.Schedule{ID: "sch_4", Kind: topics.JobPrune, Cron: "0 0 * * *", CatchUp: true}
	at := now.Add(2 * time.Minute)
	s.replan(configWith(2, hourly, noCatch, paused, fresh), at)
	if s.plan["sch_1"] != nil || s.plan["sch_3"].catchUp || s.plan["sch_4"].catchUp ||
		!s.plan["sch_2"].slot.Equal(mustTime(t, "2026-03-01T05:33:00Z")) || !s.plan["sch_4"].slot.Equal(mustTime(t, "2026-03-02T00:00:00Z")) {
		t.Fatalf("replanned: %+v", s.plan)
	}
	// No config at all: nothing planned, state emptied.
	s.replan(nil, at)
	if len(s.plan) != 0 || len(s.state.Schedules) != 0 {
		t.Fatalf("no config: %+v %+v", s.plan, s.state)
	}
}

// A run that comes due more than a day late (the machine slept) is
// skipped, its slot recorded; a catch-up is not.
func TestSchedulerSkipsExpiredRuns(t *testing.T) {
	s := testScheduler(t, t.TempDir())
	daily := topics.Schedule{ID: "sch_1", Kind: topics.JobPrune, Cron: "0 3 * * *"}
	s.replan(configWith(1, daily), mustTime(t, "2026-03-01T01:00:00Z"))
	if due := s.takeDue(mustTime(t, "2026-03-02T04:00:00Z")); len(due) != 0 {
		t.Fatalf("a run 25 h late ran: %+v", due)
	}
	if r := s.state.Schedules["sch_1"]; !r.LastSlot.Equal(mustTime(t, "2026-03-01T03:00:00Z")) {
		t.Fatalf("skipped slot not recorded: %+v", r)
	}
	if p := s.plan["sch_1"]; !p.slot.Equal(mustTime(t, "2026-03-03T03:00:00Z")) {
		t.Fatalf("next: %+v", p)
	}
}

func TestJitterWithinBounds(t *testing.T) {
	if jitter(0) != 0 {
		t.Fatal("jitter without seconds")
	}
	for range 1000 {
		if d := jitter(5); d < 0 || d > 5*time.Second {
			t.Fatalf("jitter %v", d)
		}
	}
}

func TestSpecsForSchedules(t *testing.T) {
	keep := &topics.Retention{Last: 3}
	cfg := &topics.Config{Version: 4, SourceGroups: []topics.SourceGroup{
		{ID: "sg_1", Name: "home", Paths: []string{"/home"}, Excludes: []string{"*.tmp"}, ExcludeFiles: []string{"/etc/excl"},
			ExcludeCaches: true, OneFileSystem: true, Tags: []string{"x"}, Retention: keep, ForgetAfterBackup: true},
		{ID: "sg_2", Name: "etc", Paths: []string{"/etc"}},
		{ID: "sg_3", Name: "srv", Paths: []string{"/srv"}, Retention: &topics.Retention{Daily: 7}},
	}}
	specs, _ := specsFor(&topics.Schedule{ID: "sch_1", Kind: topics.JobBackup, SourceGroup: "sg_1"}, cfg)
	want := topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/home"}, Excludes: []string{"*.tmp"}, ExcludeFiles: []string{"/etc/excl"},
		ExcludeCaches: true, OneFileSystem: true, Tags: []string{"x", "rm-group:sg_1"}, SourceGroup: "sg_1", ForgetAfter: keep}
	if len(specs) != 1 || !specEqual(specs[0], want) || specs[0].Validate() != nil {
		t.Fatalf("backup: %+v", specs)
	}
	if specs, _ := specsFor(&topics.Schedule{ID: "sch_1", Kind: topics.JobBackup, SourceGroup: "sg_2"}, cfg); specs[0].ForgetAfter != nil ||
		!slices.Equal(specs[0].Tags, []string{"rm-group:sg_2"}) {
		t.Fatalf("backup without retention: %+v", specs)
	}
	specs, _ = specsFor(&topics.Schedule{ID: "sch_2", Kind: topics.JobForget}, cfg)
	if len(specs) != 2 || !slices.Equal(specs[0].FilterTags, []string{"rm-group:sg_1"}) || specs[1].Retention.Daily != 7 ||
		!slices.Equal(specs[1].FilterTags, []string{"rm-group:sg_3"}) || specs[0].Prune || specs[0].DryRun {
		t.Fatalf("forget: %+v", specs)
	}
	if specs, why := specsFor(&topics.Schedule{ID: "sch_2", Kind: topics.JobForget}, &topics.Config{Version: 1}); len(specs) != 0 || why == "" {
		t.Fatalf("forget without policies: %+v", specs)
	}
	if specs, _ := specsFor(&topics.Schedule{ID: "sch_3", Kind: topics.JobCheck, ReadDataSubset: "1/5"}, cfg); specs[0].ReadDataSubset != "1/5" {
		t.Fatalf("check: %+v", specs)
	}
	if specs, _ := specsFor(&topics.Schedule{ID: "sch_4", Kind: topics.JobPrune}, cfg); specs[0].Kind != topics.JobPrune {
		t.Fatalf("prune: %+v", specs)
	}
}

func specEqual(a, b topics.JobSpec) bool { return reflect.DeepEqual(a, b) }

func jsonMarshalState(st scheduleState) ([]byte, error) { return json.Marshal(st) }
