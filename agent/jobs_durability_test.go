package agent_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/topics"
)

// checkExactlyOnce checks what DESIGN §3 promises for a job that finished
// while the server could not hear it: the result and the snapshot id
// arrive (once as stored entries: resends of one entry share its seq),
// and the log is whole, without gaps or duplicate lines.
func checkExactlyOnce(t *testing.T, e *jobEnv, job string) topics.JobEvent {
	t.Helper()
	ev := e.srv.waitTerminal(job)
	if ev.State != topics.JobSucceeded || len(ev.Result.SnapshotID) != 64 {
		t.Fatalf("backup: %+v %+v", ev, ev.Result)
	}
	evs := e.srv.jobEvents(job)
	if got := states(evs); !slices.Equal(got, []topics.JobState{topics.JobDelivered, topics.JobRunning, topics.JobSucceeded}) {
		t.Fatalf("events %v", got)
	}
	checkVersions(t, evs)
	lines := e.srv.waitLogComplete(job) // checks numbering: no gaps, no line twice
	if uint64(len(lines)) != ev.Result.LogLines || !strings.Contains(logText(lines), "agent: snapshot "+ev.Result.SnapshotID[:8]+" saved: ") {
		t.Fatalf("log of %d lines, result says %d:\n%s", len(lines), ev.Result.LogLines, logText(lines))
	}
	checkETAs(t, e.srv, job)
	if snaps := e.srv.waitReport(job); len(snaps) == 0 || snaps[len(snaps)-1].ID != ev.Result.SnapshotID {
		t.Fatalf("snapshot report %+v lacks %s", snaps, ev.Result.SnapshotID)
	}
	return ev
}

// The server (here: its broker) goes away mid-backup; the backup finishes
// while it is down; when it is back, the agent's hello is followed by the
// result, the whole log and the snapshot list.
func TestBackupFinishesWhileServerIsDown(t *testing.T) {
	e := newJobEnv(t)
	a := e.startConfigured()
	src := newSource(t, 4, 768<<10)
	job := e.srv.run(slowBackupSpec(src), 1)
	e.srv.waitState(job, topics.JobRunning)

	addr := e.b.TCPAddr()
	e.b.Close()
	a.logs.waitFor(t, "job finished", job, "state=succeeded")
	if a.Connected() {
		t.Fatal("connected while the broker is down")
	}
	b2 := startBroker(t, addr.String(), e.auth, nil)
	e.srv.attach(b2)
	checkExactlyOnce(t, e, job)
	if h := e.srv.lastHello(); h.OutboxHigh == 0 {
		t.Fatalf("hello after the outage: %+v", h)
	}
}

// The agent↔broker connection is cut mid-job by a TCP proxy and stays
// down until the job is over; then it comes back: same guarantees.
func TestBackupSurvivesNetworkCut(t *testing.T) {
	e := newJobEnv(t)
	p := startProxy(t, e.b.TCPAddr())
	e.cfg.MQTTURL = "mqtt://" + p.Addr().String()
	a := e.startConfigured()
	src := newSource(t, 4, 768<<10)
	job := e.srv.run(slowBackupSpec(src), 1)
	e.srv.waitState(job, topics.JobRunning)

	p.pause(true)
	p.cut()
	a.logs.waitFor(t, "job finished", job)
	p.pause(false)
	checkExactlyOnce(t, e, job)
}

// What the server stored but did not acknowledge is published again: on
// the next connection, when the server asks (ack with resend), and while
// connected after the resend interval. Acknowledged entries are never
// sent again, and seqs keep growing across a restart.
func TestUnacknowledgedEntriesAreResent(t *testing.T) {
	e := newJobEnv(t)
	p := startProxy(t, e.b.TCPAddr())
	e.cfg.MQTTURL = "mqtt://" + p.Addr().String()
	a := e.start(agent.WithResendAfter(time.Hour))
	e.configure()

	acked := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 1)
	first := e.srv.waitTerminal(acked)
	e.srv.waitLogComplete(acked)

	e.srv.setWithhold(true)
	held := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 1)
	ev := e.srv.waitTerminal(held)

	// A new connection: everything unacknowledged goes out again.
	p.cut()
	e.srv.waitUntil("the held result sent again after reconnecting", func() bool { return e.srv.received[ev.Seq] >= 2 })
	// The server asks for a resend.
	e.srv.askResend()
	e.srv.waitUntil("the held result sent again on request", func() bool { return e.srv.received[ev.Seq] >= 3 })
	if n := e.srv.timesReceived(first.Seq); n != 1 {
		t.Fatalf("an acknowledged result was sent %d times", n)
	}
	e.srv.setWithhold(false)

	// After a restart, seqs go on above everything sent before, even
	// though every entry was acknowledged and deleted.
	a.stop(t)
	b := e.start(agent.WithResendAfter(300 * time.Millisecond))
	if h := e.waitHello(b.BootID()); h.OutboxHigh < ev.Seq {
		t.Fatalf("hello after restart: outbox_high %d below seq %d", h.OutboxHigh, ev.Seq)
	}
	e.srv.setWithhold(true)
	later := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 1)
	ev2 := e.srv.waitTerminal(later)
	if ev2.Seq <= ev.Seq {
		t.Fatalf("seq %d after restart is not above %d", ev2.Seq, ev.Seq)
	}
	// Still connected, no ack: it is published again after the interval.
	e.srv.waitUntil("the result republished while connected", func() bool { return e.srv.received[ev2.Seq] >= 2 })
	e.srv.setWithhold(false)
}

// A clean stop (service stop) while restic runs stops restic gracefully
// and reports the job interrupted; jobs queued behind it run after the
// next start.
func TestCleanStopInterruptsAndRequeues(t *testing.T) {
	e := newJobEnv(t)
	a := e.startConfigured()
	src := newSource(t, 4, 1<<20)
	running := e.srv.run(slowBackupSpec(src), 1)
	queued := e.srv.run(topics.JobSpec{Kind: topics.JobSnapshots}, 1)
	e.srv.waitState(running, topics.JobRunning)
	e.srv.waitState(queued, topics.JobDelivered)
	a.stop(t)

	b := e.start()
	if h := e.waitHello(b.BootID()); !slices.Contains(h.Jobs, queued) || slices.Contains(h.Jobs, running) {
		t.Fatalf("hello lists jobs %v; want the queued %s and not the finished %s", h.Jobs, queued, running)
	}
	ev := e.srv.waitTerminal(running)
	if ev.State != topics.JobInterrupted || !strings.Contains(ev.Result.Reason, "stopped gracefully") || ev.Version != 4 {
		t.Fatalf("running job after a clean stop: %+v %+v", ev, ev.Result)
	}
	ev = e.srv.waitTerminal(queued)
	if ev.State != topics.JobSucceeded || ev.Version != 4 {
		t.Fatalf("queued job after restart: %+v %+v", ev, ev.Result)
	}
	if got := states(e.srv.jobEvents(queued)); !slices.Equal(got, []topics.JobState{topics.JobDelivered, topics.JobRunning, topics.JobSucceeded}) {
		t.Fatalf("queued job states %v", got)
	}
	e.srv.waitLogComplete(running)
	e.srv.waitLogComplete(queued)
}
