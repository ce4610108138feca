package agent_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// The same command delivered twice, while it runs and after it finished,
// runs restic once; the duplicate after the end is answered with the
// recorded result (same version, so the server stores it once).
func TestDuplicateCommandRunsResticOnce(t *testing.T) {
	e := newJobEnv(t)
	calls := e.countCalls()
	e.startConfigured()
	src := newSource(t, 4, 512<<10)

	c := e.srv.runCommand(slowBackupSpec(src), 1)
	e.srv.send(topics.CmdTopic(e.h.id), c)
	e.srv.waitState(c.Job, topics.JobRunning)
	again := *c
	again.Envelope = topics.NewEnvelope(topics.TypeCmd, e.h.id) // a resend by the server after a hello
	e.srv.send(topics.CmdTopic(e.h.id), &again)
	first := e.srv.waitTerminal(c.Job)
	if first.State != topics.JobSucceeded {
		t.Fatalf("backup: %+v", first.Result)
	}

	e.srv.send(topics.CmdTopic(e.h.id), c) // the very same message again, after the end
	e.srv.waitUntil("the recorded result sent again", func() bool {
		n := 0
		for _, ev := range e.srv.eventsLocked(c.Job) {
			if ev.State.Terminal() {
				n++
			}
		}
		return n == 2
	})
	var terminals []topics.JobEvent
	for _, ev := range e.srv.jobEvents(c.Job) {
		if ev.State.Terminal() {
			terminals = append(terminals, ev)
		}
	}
	if terminals[1].Version != first.Version || terminals[1].Result.SnapshotID != first.Result.SnapshotID || terminals[1].Seq == first.Seq {
		t.Fatalf("re-sent result %+v differs from %+v", terminals[1], first)
	}
	if n := agenttest.Count(calls(), "backup"); n != 1 {
		t.Fatalf("restic backup ran %d times: %v", n, calls())
	}
	if got := states(e.srv.jobEvents(c.Job)); !slices.Equal(got[:3], []topics.JobState{topics.JobDelivered, topics.JobRunning, topics.JobSucceeded}) {
		t.Fatalf("states %v", got)
	}
}

// A command whose expires_at passed is answered expired and never runs,
// whether it expired before it arrived or while it waited for its config.
func TestExpiredCommandNeverRuns(t *testing.T) {
	e := newJobEnv(t)
	calls := e.countCalls()
	e.startConfigured()

	late := e.srv.runCommand(backupSpec(t.TempDir()), 1)
	late.ExpiresAt = time.Now().Add(-time.Minute)
	e.srv.send(topics.CmdTopic(e.h.id), late)
	ev := e.srv.waitTerminal(late.Job)
	if ev.State != topics.JobExpired || ev.Version != 2 || ev.Result.ExitCode != nil || !strings.Contains(ev.Result.Reason, "expired") {
		t.Fatalf("expired on arrival: %+v %+v", ev, ev.Result)
	}

	// Needs config version 2, which never comes: it waits, says so in its
	// log, and expires.
	waiting := e.srv.runCommand(backupSpec(t.TempDir()), 2)
	waiting.ExpiresAt = time.Now().Add(1500 * time.Millisecond)
	e.srv.send(topics.CmdTopic(e.h.id), waiting)
	ev = e.srv.waitTerminal(waiting.Job)
	if ev.State != topics.JobExpired {
		t.Fatalf("expired while waiting: %+v %+v", ev, ev.Result)
	}
	if got := states(e.srv.jobEvents(waiting.Job)); !slices.Equal(got, []topics.JobState{topics.JobDelivered, topics.JobExpired}) {
		t.Fatalf("states %v", got)
	}
	text := logText(e.srv.waitLogComplete(waiting.Job))
	if !strings.Contains(text, "agent: this job needs config version 2 and this host has applied version 1: waiting") {
		t.Fatalf("log:\n%s", text)
	}
	if n := agenttest.Count(calls(), "backup"); n != 0 {
		t.Fatalf("restic backup ran %d times for expired jobs", n)
	}
}

// A job that needs a newer config waits for it and runs when it arrives;
// jobs behind it keep their order.
func TestJobWaitsForItsConfig(t *testing.T) {
	e := newJobEnv(t)
	a := e.start()
	src := newSource(t, 2, 4096)
	first := e.srv.run(backupSpec(src), 1)
	second := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 0)
	e.srv.waitState(second, topics.JobDelivered)
	e.srv.waitLogContains(first, "waiting for it")
	e.srv.waitLogContains(second, "waiting for its turn: job "+first+" waits before this one")
	if evs := e.srv.jobEvents(first); len(evs) != 1 {
		t.Fatalf("ran without its config: %v", states(evs))
	}

	e.srv.sendConfig(1, e.repoConfig())
	if ev := e.srv.waitTerminal(first); ev.State != topics.JobSucceeded {
		t.Fatalf("first: %+v", ev.Result)
	}
	if ev := e.srv.waitTerminal(second); ev.State != topics.JobSucceeded {
		t.Fatalf("second: %+v", ev.Result)
	}
	if e.srv.jobEvents(first)[2].Seq > e.srv.jobEvents(second)[1].Seq {
		t.Fatal("the job behind ran first")
	}
	// The config is stored for the agent's eyes only and survives a restart.
	fi, err := os.Stat(filepath.Join(e.cfg.StateDir, "desired_config.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored config: %v %v", fi, err)
	}
	data, _ := os.ReadFile(filepath.Join(e.cfg.StateDir, "desired_config.json"))
	if !strings.Contains(string(data), repoPassword) {
		t.Fatal("the stored config lacks the repository") // it is the point of the file
	}
	e.srv.sendConfig(1, &topics.RepositoryConfig{URL: "/elsewhere", Password: "x"}) // not newer: ignored
	a.stop(t)
	b := e.start()
	if h := e.waitHello(b.BootID()); h.ConfigVersion != 1 {
		t.Fatalf("hello after restart says config version %d", h.ConfigVersion)
	}
	if ev := e.srv.waitTerminal(e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 1)); ev.State != topics.JobSucceeded {
		t.Fatalf("after restart: %+v", ev.Result)
	}
}

// Cancel: a running job's restic stops gracefully (canceled), a waiting
// job is dropped without running, and an unknown job is recorded as
// canceled so that its run, arriving later, never runs.
func TestCancelRunningWaitingAndUnknownJobs(t *testing.T) {
	e := newJobEnv(t)
	calls := e.countCalls()
	e.startConfigured()
	src := newSource(t, 4, 2<<20)

	running := e.srv.run(slowBackupSpec(src), 1)
	waiting := e.srv.run(topics.JobSpec{Kind: topics.JobCheck}, 1)
	e.srv.waitState(running, topics.JobRunning)
	e.srv.waitState(waiting, topics.JobDelivered)
	e.srv.cancel(waiting)
	ev := e.srv.waitTerminal(waiting)
	if ev.State != topics.JobCanceled || ev.Result.ExitCode != nil || ev.Version != 3 {
		t.Fatalf("waiting job: %+v %+v", ev, ev.Result)
	}
	// "running" is reported once restic is started; the counting wrapper
	// records the call a moment later, and a cancel in between would stop
	// the wrapper before it counted.
	e.srv.waitUntil("restic backup started", func() bool { return agenttest.Count(calls(), "backup") == 1 })
	e.srv.cancel(running)
	ev = e.srv.waitTerminal(running)
	if ev.State != topics.JobCanceled || ev.Result.ExitCode == nil || *ev.Result.ExitCode == 0 || ev.Result.Reason != "canceled" {
		t.Fatalf("running job: %+v %+v", ev, ev.Result)
	}
	if locks, _ := os.ReadDir(filepath.Join(e.repo, "locks")); len(locks) != 0 {
		t.Fatalf("restic left %d locks after a graceful cancel", len(locks))
	}

	unknown := e.srv.runCommand(backupSpec(src), 1)
	e.srv.cancel(unknown.Job)
	ev = e.srv.waitTerminal(unknown.Job)
	if ev.State != topics.JobCanceled || ev.Version != 2 {
		t.Fatalf("unknown job: %+v", ev)
	}
	e.srv.send(topics.CmdTopic(e.h.id), unknown)
	e.srv.waitUntil("the canceled result sent again", func() bool { return len(e.srv.eventsLocked(unknown.Job)) == 2 })
	if n := agenttest.Count(calls(), "backup"); n != 1 {
		t.Fatalf("restic backup ran %d times, want 1 (the canceled one)", n)
	}
	if n := agenttest.Count(calls(), "check"); n != 0 {
		t.Fatalf("the canceled waiting check ran")
	}
}
