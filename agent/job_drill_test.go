package agent_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestDrill runs restore drills on one agent with the real restic: on a
// healthy repository every sampled file matches; live files changed since
// the snapshot are skipped, not mismatched; a group without snapshots
// fails with a sentence; a drill schedule runs from the agent's
// scheduler; after a data pack is damaged the drill fails naming a file.
// The scratch directory is gone after each, failed ones included.
func TestDrill(t *testing.T) {
	e := newJobEnv(t)
	clock := &shiftedClock{}
	a := e.start(agent.WithSchedulerClock(clock.now))
	e.configure()
	src := newSource(t, 30, 30*8<<10) // 30 files of 8 KiB in d0, d1, d2
	if ev := e.srv.waitTerminal(e.srv.run(backupSpec(src), 1)); ev.State != topics.JobSucceeded {
		t.Fatalf("backup: %+v", ev.Result)
	}
	scratch := filepath.Join(e.cfg.StateDir, "drill-scratch")
	drill := func(t *testing.T, opts *topics.DrillOptions) (topics.JobEvent, string) {
		t.Helper()
		job := e.srv.run(topics.JobSpec{Kind: topics.JobDrill, Drill: opts}, 1)
		ev := e.srv.waitTerminal(job)
		if _, err := os.Stat(scratch); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the scratch directory is still there after the drill (%v)", err)
		}
		return ev, logText(e.srv.waitLogComplete(job))
	}

	t.Run("healthy", func(t *testing.T) {
		ev, log := drill(t, &topics.DrillOptions{Files: 10})
		d := ev.Result.Drill
		if ev.State != topics.JobSucceeded || d == nil || d.Sampled != 10 || d.Compared != 10 || d.Matched != 10 ||
			d.Mismatched != 0 || d.Skipped != 0 || d.BytesRestored != 10*8<<10 || !topics.ValidResticID(d.Snapshot) {
			t.Fatalf("drill: %s %+v %+v\n%s", ev.State, ev.Result, d, log)
		}
		if !strings.Contains(log, "restore verified") || !strings.Contains(log, "removed the scratch directory") {
			t.Fatalf("log:\n%s", log)
		}
	})

	t.Run("budget", func(t *testing.T) {
		ev, _ := drill(t, &topics.DrillOptions{Files: 30, MaxMB: 1})
		if d := ev.Result.Drill; ev.State != topics.JobSucceeded || d == nil || d.Sampled != 30 || d.BytesRestored > 1<<20 {
			t.Fatalf("drill within 1 MB: %s %+v", ev.State, d)
		}
	})

	t.Run("changed since the snapshot", func(t *testing.T) {
		changed, err := filepath.Glob(filepath.Join(src, "d0", "*"))
		if err != nil || len(changed) != 10 {
			t.Fatalf("d0: %v %v", changed, err)
		}
		for _, p := range changed {
			// Same size, new content and time: the live file moved on.
			if err := os.WriteFile(p, make([]byte, 8<<10), 0o644); err != nil {
				t.Fatal(err)
			}
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
		}
		ev, log := drill(t, &topics.DrillOptions{Files: 30})
		d := ev.Result.Drill
		if ev.State != topics.JobSucceeded || d == nil || d.Sampled != 30 || d.Skipped != 10 || d.Compared != 20 ||
			d.Matched != 20 || d.Mismatched != 0 {
			t.Fatalf("drill with changed files: %s %+v %+v\n%s", ev.State, ev.Result, d, log)
		}
	})

	t.Run("group without snapshots", func(t *testing.T) {
		e.sendFullConfig(topics.Config{Version: 2,
			SourceGroups: []topics.SourceGroup{{ID: "sg_9", Name: "none", Paths: []string{src}}}})
		job := e.srv.run(topics.JobSpec{Kind: topics.JobDrill, Drill: &topics.DrillOptions{SourceGroup: "sg_9"}}, 2)
		ev := e.srv.waitTerminal(job)
		if ev.State != topics.JobFailed || !strings.Contains(ev.Result.Reason, "no snapshot") || !strings.Contains(ev.Result.Reason, "rm-group:sg_9") {
			t.Fatalf("drill of a group never backed up: %s %+v", ev.State, ev.Result)
		}
	})

	t.Run("schedule", func(t *testing.T) {
		slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
		clock.set(slot.Add(-2 * time.Second))
		e.sendFullConfig(topics.Config{Version: 3, Schedules: []topics.Schedule{{ID: "sch_4", Kind: topics.JobDrill,
			Cron: "0 3 * * *", Drill: &topics.DrillOptions{Files: 5}}}})
		job := a.waitScheduledJob(t, "sch_4")
		ev := e.srv.waitTerminal(job)
		evs := e.srv.jobEvents(job)
		if ev.State != topics.JobSucceeded || ev.Result.Drill == nil || ev.Result.Drill.Sampled != 5 {
			t.Fatalf("scheduled drill: %s %+v", ev.State, ev.Result)
		}
		checkOrigin(t, evs, "sch_4", slot, false)
		if o := evs[0].Origin.Spec; o.Kind != topics.JobDrill || o.Drill == nil || o.Drill.Files != 5 {
			t.Fatalf("origin spec %+v", o)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		// Restoring at 16 KiB/s lasts seconds: the cancel lands mid-restore.
		job := e.srv.run(topics.JobSpec{Kind: topics.JobDrill, Drill: &topics.DrillOptions{Files: 30}, BandwidthDownKBps: 16}, 1)
		e.srv.waitLogContains(job, "to restore")
		e.srv.cancel(job)
		if ev := e.srv.waitTerminal(job); ev.State != topics.JobCanceled {
			t.Fatalf("canceled drill: %s %+v", ev.State, ev.Result)
		}
		if _, err := os.Stat(scratch); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the scratch directory is still there after a cancel (%v)", err)
		}
	})

	t.Run("damaged pack", func(t *testing.T) {
		agenttest.DamageLargestPack(t, e.repo)
		ev, log := drill(t, &topics.DrillOptions{Files: 30})
		d := ev.Result.Drill
		if ev.State != topics.JobFailed || d == nil || d.Mismatched == 0 || len(d.MismatchedPaths) == 0 ||
			!strings.HasPrefix(ev.Result.Reason, "restore drill failed: "+src) {
			t.Fatalf("drill of a damaged repository: %s %+v %+v\n%s", ev.State, ev.Result, d, log)
		}
		if strings.Contains(ev.Result.Reason, "\n") {
			t.Fatalf("reason is not one sentence: %q", ev.Result.Reason)
		}
	})
}
