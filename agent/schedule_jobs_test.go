package agent_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// A backup scheduled for the next slot runs while no server is reachable;
// when the server is back, the job (created from its origin), its whole
// log and its snapshot report arrive, exactly once.
func TestScheduledBackupRunsWithoutServer(t *testing.T) {
	e := newJobEnv(t)
	clock := &shiftedClock{}
	slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	clock.set(slot.Add(-10 * time.Second))
	a := e.start(agent.WithSchedulerClock(clock.now))
	src := newSource(t, 4, 256<<10)
	e.sendFullConfig(topics.Config{Version: 1,
		SourceGroups: []topics.SourceGroup{{ID: "sg_1", Name: "data", Paths: []string{src}, Tags: []string{"nightly"}}},
		Schedules:    []topics.Schedule{{ID: "sch_1", Kind: topics.JobBackup, SourceGroup: "sg_1", Cron: "0 3 * * *", CatchUp: true}},
	})
	addr := e.b.TCPAddr()
	e.b.Close()
	if !clock.now().Before(slot) {
		t.Fatal("the broker closed after the slot: the machine is too slow for this test")
	}
	job := a.waitScheduledJob(t, "sch_1")
	a.logs.waitFor(t, "job finished", job, "state=succeeded")
	if a.Connected() {
		t.Fatal("connected while the broker is down")
	}
	b2 := startBroker(t, addr.String(), e.auth, nil)
	e.srv.attach(b2)
	ev := checkExactlyOnce(t, e, job)
	evs := e.srv.jobEvents(job)
	if evs[0].Version != 2 || evs[2].Version != 4 {
		t.Fatalf("versions %+v", evs)
	}
	checkOrigin(t, evs, "sch_1", slot, false)
	spec := evs[0].Origin.Spec
	if spec.SourceGroup != "sg_1" || !slices.Equal(spec.Tags, []string{"nightly", "rm-group:sg_1"}) || !slices.Equal(spec.Paths, []string{src}) {
		t.Fatalf("origin spec %+v", spec)
	}
	if snaps := e.srv.waitReport(job); !slices.Contains(snaps[len(snaps)-1].Tags, "rm-group:sg_1") {
		t.Fatalf("snapshot %+v lacks the group tag", snaps)
	}
	for _, e2 := range evs {
		if n := e.srv.timesReceived(e2.Seq); n < 1 {
			t.Fatalf("event %d never arrived", e2.Seq)
		}
	}
	if got := e.srv.scheduledJobs("sch_1"); len(got) != 1 {
		t.Fatalf("scheduled jobs %v (result %+v)", got, ev.Result)
	}
}

// The agent is down across three slots of a catch-up schedule: at start it
// runs once, for the latest slot. A paused schedule does not run; resumed,
// it runs at its next slot without catching up on the paused time.
func TestScheduleCatchUpOncePauseAndResume(t *testing.T) {
	e := newJobEnv(t)
	clock := &shiftedClock{}
	t0 := time.Date(2026, 3, 1, 1, 30, 0, 0, time.UTC)
	clock.set(t0)
	a := e.start(agent.WithSchedulerClock(clock.now))
	src := newSource(t, 2, 64<<10)
	groups := []topics.SourceGroup{{ID: "sg_1", Name: "data", Paths: []string{src}}}
	hourly := topics.Schedule{ID: "sch_1", Kind: topics.JobBackup, SourceGroup: "sg_1", Cron: "0 * * * *", CatchUp: true}
	e.sendFullConfig(topics.Config{Version: 1, SourceGroups: groups, Schedules: []topics.Schedule{hourly}})
	a.logs.waitFor(t, "applied config", "version=1")
	a.stop(t)

	// Back at 04:30: slots 02:00, 03:00 and 04:00 were missed.
	clock.set(t0.Add(3 * time.Hour))
	a = e.start(agent.WithSchedulerClock(clock.now))
	job := a.waitScheduledJob(t, "sch_1")
	e.srv.waitReport(job)
	checkOrigin(t, e.srv.jobEvents(job), "sch_1", time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC), true)
	if got := e.srv.scheduledJobs("sch_1"); len(got) != 1 {
		t.Fatalf("catch-up ran %d jobs: %v", len(got), got)
	}

	// Paused just before 05:00: the slot passes, nothing runs.
	hourly.Paused = true
	clock.set(time.Date(2026, 3, 1, 4, 59, 57, 0, time.UTC))
	e.sendFullConfig(topics.Config{Version: 2, SourceGroups: groups, Schedules: []topics.Schedule{hourly}})
	e.srv.waitUntil("the paused slot to pass", func() bool { return clock.now().After(time.Date(2026, 3, 1, 5, 0, 3, 0, time.UTC)) })
	if strings.Count(a.logs.String(), `msg="scheduled job"`) != 1 {
		t.Fatalf("a paused schedule ran:\n%s", a.logs.String())
	}

	// Resumed at 05:59:57: no catch-up of 05:00, the 06:00 slot runs.
	hourly.Paused = false
	clock.set(time.Date(2026, 3, 1, 5, 59, 57, 0, time.UTC))
	e.sendFullConfig(topics.Config{Version: 3, SourceGroups: groups, Schedules: []topics.Schedule{hourly}})
	e.srv.waitUntil("a second scheduled job", func() bool { return len(e.srv.scheduledJobsLocked("sch_1")) == 2 })
	for _, id := range e.srv.scheduledJobs("sch_1") {
		if id != job {
			e.srv.waitTerminal(id)
			checkOrigin(t, e.srv.jobEvents(id), "sch_1", time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), false)
		}
	}
}

// Server jobs and scheduled jobs share one queue: restic runs never
// overlap. The host cap is on every restic call, a job's own limit wins;
// a scheduled backup of a group with forget-after forgets in the same job;
// a dry-run forget lists what it would remove and sends no snapshot list.
func TestScheduledAndServerJobsShareTheQueue(t *testing.T) {
	e := newJobEnv(t)
	var calls func() []agenttest.ResticCall
	e.cfg.ResticBinary, calls = agenttest.RecordingRestic(t, e.restic)
	clock := &shiftedClock{}
	slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	clock.set(slot.Add(-time.Hour))
	a := e.start(agent.WithSchedulerClock(clock.now))
	src := newSource(t, 4, 768<<10)
	group := topics.SourceGroup{ID: "sg_1", Name: "data", Paths: []string{src}, Retention: &topics.Retention{Last: 1}, ForgetAfterBackup: true}
	sch := topics.Schedule{ID: "sch_1", Kind: topics.JobBackup, SourceGroup: "sg_1", Cron: "0 3 * * *"}
	e.sendFullConfig(topics.Config{Version: 1, SourceGroups: []topics.SourceGroup{group}, Schedules: []topics.Schedule{sch},
		Bandwidth: &topics.Bandwidth{UpKBps: 4096, DownKBps: 8192}})

	// A slow server backup of the group (its own upload limit), then the
	// slot comes while it runs.
	spec := slowBackupSpec(src)
	spec.SourceGroup, spec.Tags = "sg_1", []string{topics.GroupTag("sg_1")}
	first := e.srv.run(spec, 1)
	e.srv.waitState(first, topics.JobRunning)
	clock.set(slot.Add(-2 * time.Second))
	e.sendFullConfig(topics.Config{Version: 2, SourceGroups: []topics.SourceGroup{group}, Schedules: []topics.Schedule{sch},
		Bandwidth: &topics.Bandwidth{UpKBps: 4096, DownKBps: 8192}})
	job := a.waitScheduledJob(t, "sch_1")
	e.srv.waitLogContains(job, "waiting for its turn: job "+first+" is running")
	ev := e.srv.waitTerminal(job)
	if ev.State != topics.JobSucceeded || ev.Result.SnapshotsRemoved != 1 || len(ev.Result.SnapshotID) != 64 {
		t.Fatalf("scheduled backup with forget after: %s %+v", ev.State, ev.Result)
	}
	text := logText(e.srv.waitLogComplete(job))
	for _, want := range []string{"forget after the backup", "--tag=rm-group:sg_1", "--keep-last=1", "forget removed 1 snapshot and kept 1"} {
		if !strings.Contains(text, want) {
			t.Fatalf("log lacks %q:\n%s", want, text)
		}
	}
	if snaps := e.srv.waitReport(job); len(snaps) != 1 || snaps[0].ID != ev.Result.SnapshotID {
		t.Fatalf("after forget: %+v", snaps)
	}

	// Another backup, then a dry run: it would remove the older snapshot.
	second := e.srv.run(topics.JobSpec{Kind: topics.JobBackup, Paths: []string{src}, Tags: []string{topics.GroupTag("sg_1")}, SourceGroup: "sg_1"}, 2)
	newest := e.srv.waitTerminal(second).Result.SnapshotID
	dry := e.srv.run(topics.JobSpec{Kind: topics.JobForget, Retention: &topics.Retention{Last: 1}, DryRun: true,
		FilterTags: []string{topics.GroupTag("sg_1")}, BandwidthDownKBps: 300}, 2)
	dev := e.srv.waitTerminal(dry)
	if dev.State != topics.JobSucceeded || !slices.Equal(dev.Result.WouldRemove, []string{ev.Result.SnapshotID}) ||
		dev.Result.SnapshotsKept != 1 || dev.Result.SnapshotsRemoved != 1 {
		t.Fatalf("dry run: %+v", dev.Result)
	}
	list := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 2)
	if snaps := e.srv.waitReport(list); len(snaps) != 2 || snaps[1].ID != newest {
		t.Fatalf("the dry run removed something: %+v", snaps)
	}
	if r := e.srv.reportsOf(dry); len(r) != 0 {
		t.Fatalf("a dry run sent a snapshot report: %+v", r)
	}

	// What restic got: never two at once, and the right caps.
	all := calls()
	var repoCalls []agenttest.ResticCall
	for i, c := range all {
		if i > 0 && c.Start.Before(all[i-1].End) {
			t.Fatalf("restic runs overlap: %v (%v-%v) and %v (%v-%v)", all[i-1].Args, all[i-1].Start, all[i-1].End, c.Args, c.Start, c.End)
		}
		if len(c.Args) > 0 && c.Args[0] != "version" {
			repoCalls = append(repoCalls, c)
		}
	}
	for _, c := range repoCalls {
		argv := strings.Join(c.Args, " ")
		up, down := "--limit-upload=4096", "--limit-download=8192"
		switch {
		case strings.HasPrefix(argv, "backup") && strings.Contains(argv, "--limit-upload=256"):
			up = "--limit-upload=256" // the first backup's own limit
		case strings.HasPrefix(argv, "forget") && strings.Contains(argv, "--dry-run"):
			down = "--limit-download=300"
		}
		if !strings.Contains(argv, up) || !strings.Contains(argv, down) {
			t.Errorf("restic %s lacks %s %s", argv, up, down)
		}
	}
	if n := len(repoCalls); n < 7 { // backup, snapshots, backup, forget, snapshots, backup, snapshots, forget, snapshots
		t.Fatalf("only %d restic calls: %+v", n, repoCalls)
	}
}
