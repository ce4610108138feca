package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// groupOrigin is the Origin the agent puts on the events of a backup it
// ran from schedule sc of group g for slot.
func groupOrigin(sc *server.Schedule, g *server.SourceGroup, slot time.Time) *topics.JobOrigin {
	return &topics.JobOrigin{Schedule: sc.Key, ScheduledFor: slot, Spec: topics.JobSpec{Kind: topics.JobBackup,
		Paths: g.Paths, SourceGroup: g.Key, Tags: []string{topics.GroupTag(g.Key)}}}
}

// scheduledRun plays the agent starting a backup from sc by itself: its
// delivered and running events, stored. It returns the job's wire id.
func (f *jobsFixture) scheduledRun(t *testing.T, sc *server.Schedule, g *server.SourceGroup, slot time.Time) string {
	t.Helper()
	uid := topics.RandomID(topics.JobIDPrefix)
	o := groupOrigin(sc, g, slot)
	f.agent.ScheduledEvent(t, o, uid, 2, topics.JobDelivered, nil)
	f.agent.ScheduledEvent(t, o, uid, 3, topics.JobRunning, nil)
	f.agent.Sync(t)
	return uid
}

// agentFinish reports the end of a run scheduledRun started.
func (f *jobsFixture) agentFinish(t *testing.T, uid string, sc *server.Schedule, g *server.SourceGroup, slot time.Time, st topics.JobState) {
	t.Helper()
	f.agent.ScheduledEvent(t, groupOrigin(sc, g, slot), uid, 4, st, &topics.JobResult{ExitCode: intp(0)})
	f.agent.Sync(t)
}

// homeBackups makes the group Home (/home) and a backup schedule of it.
func (f *jobsFixture) homeBackups(t *testing.T, cron string) (*server.SourceGroup, *server.Schedule) {
	t.Helper()
	g := f.group(t, server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}})
	return g, f.schedule(t, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "Home", Cron: cron})
}

// jobByUID loads a job by its wire id (nil when there is none).
func (f *jobsFixture) jobByUID(t *testing.T, uid string) *server.Job {
	t.Helper()
	var ids []int64
	if err := f.s.DB().Select(&ids, `SELECT id FROM jobs WHERE uid = ?`, uid); err != nil {
		t.Fatal(err)
	}
	if len(ids) > 1 {
		t.Fatalf("job %s stored %d times", uid, len(ids))
	}
	if len(ids) == 0 {
		return nil
	}
	return f.job(t, ids[0])
}

func TestAgentStartedJobIsCreatedOnceFromItsOrigin(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	a := f.agent
	g, sc := f.homeBackups(t, "0 3 * * *")
	slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	o := groupOrigin(sc, g, slot)
	uid := topics.RandomID(topics.JobIDPrefix)

	// The first log batch overtakes the first event: deferred, not lost.
	early := a.Log(t, uid, 1, "open repository", "start scan")
	a.Sync(t)
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); acked[early] || f.s.Stats().Deferred.Load() != 1 || f.jobByUID(t, uid) != nil {
		t.Fatalf("a log of a job not known yet was acked or made a job (deferred %d)", f.s.Stats().Deferred.Load())
	}

	// The events, each twice (a resend under the same seq, a duplicate
	// under another), in one batch: one job.
	d := a.ScheduledEvent(t, o, uid, 2, topics.JobDelivered, nil)
	a.Send(t, topics.JobEventTopic(f.host, uid), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.host),
		Seq: d, Job: uid, Version: 2, State: topics.JobDelivered, At: time.Now(), Origin: o})
	a.ScheduledEvent(t, o, uid, 2, topics.JobDelivered, nil)
	r := a.ScheduledEvent(t, o, uid, 3, topics.JobRunning, nil)
	a.Sync(t)
	j := f.jobByUID(t, uid)
	if j == nil || j.Kind != topics.JobBackup || j.Status != topics.JobRunning || j.Version != 3 || j.CreatedBy != server.CreatedBySchedule ||
		j.ScheduleID != sc.ID || j.ScheduledFor == nil || !j.ScheduledFor.Equal(slot) || j.SourceGroupID != g.ID ||
		j.SourceGroupName != "Home" || !j.ExpiresAt.Equal(slot.Add(server.DefaultJobExpiry)) || !j.CreatedAt.Equal(slot) ||
		j.Spec.SourceGroup != g.Key || j.StartedAt == nil {
		t.Fatalf("job from origin: %+v", j)
	}
	// The agent resends the deferred batch (same seq), then the rest.
	a.ResendLog(t, early, uid, 1, "open repository", "start scan")
	late := a.Log(t, uid, 3, "snapshot saved")
	done := a.ScheduledEvent(t, o, uid, 4, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), LogLines: 3, SnapshotID: testSnapshotID})
	a.Sync(t)
	j = f.jobByUID(t, uid)
	lines, err := f.s.JobLog(t.Context(), j.ID, 0, 0)
	if err != nil || len(lines) != 3 || lines[0].Text != "open repository" || lines[2].Text != "snapshot saved" ||
		j.Status != topics.JobSucceeded || j.SnapshotID != testSnapshotID {
		t.Fatalf("after the end: %v %+v %+v", err, lines, j)
	}
	acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub))
	for name, seq := range map[string]uint64{"deferred log": early, "delivered": d, "running": r, "late log": late, "done": done} {
		if !acked[seq] {
			t.Errorf("%s (seq %d) not acked", name, seq)
		}
	}
	// Everything again, as after a reconnect: nothing new.
	a.ScheduledEvent(t, o, uid, 2, topics.JobDelivered, nil)
	a.ScheduledEvent(t, o, uid, 4, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), LogLines: 3, SnapshotID: testSnapshotID})
	a.Log(t, uid, 1, "open repository", "start scan")
	a.Sync(t)
	if again := f.jobByUID(t, uid); again.Version != 4 || again.LogLines != 3 {
		t.Fatalf("resends changed the job: %+v", again)
	}
	// Monitoring tools heard of the finish, as for any job.
	finished := 0
	for _, m := range f.pub.On(topics.MonitorEventsTopic()) {
		var e topics.MonitorEvent
		if topics.Decode(m.Payload, &e) == nil && e.Event == "job.finished" && e.Job == j.ID {
			finished++
		}
	}
	if finished != 1 {
		t.Fatalf("%d monitor events for the scheduled job", finished)
	}
}

func TestAgentStartedJobRefusals(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	a := f.agent
	ctx := t.Context()
	g, sc := f.homeBackups(t, "@daily")
	slot := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	// Another host's schedule: refused for good (acked), no job.
	other := enrollTestHost(t, f.s, "web-2")
	og, err := f.s.CreateSourceGroup(ctx, f.admin, other, server.SourceGroupInput{Name: "Data", Paths: []string{"/data"}})
	if err != nil {
		t.Fatal(err)
	}
	osc, err := f.s.CreateSchedule(ctx, f.admin, other, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: og.Key, Cron: "@daily"})
	if err != nil {
		t.Fatal(err)
	}
	foreign := topics.RandomID(topics.JobIDPrefix)
	fseq := a.ScheduledEvent(t, groupOrigin(osc, og, slot), foreign, 2, topics.JobDelivered, nil)
	// A restore is no schedule's kind; an event without origin stays unknown.
	restore := topics.RandomID(topics.JobIDPrefix)
	rseq := a.ScheduledEvent(t, &topics.JobOrigin{Schedule: sc.Key, ScheduledFor: slot,
		Spec: topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Target: "/tmp/r"}}, restore, 2, topics.JobDelivered, nil)
	bare := topics.RandomID(topics.JobIDPrefix)
	bseq := a.Event(t, bare, 2, topics.JobDelivered, nil)
	a.Sync(t)
	for _, uid := range []string{foreign, restore, bare} {
		if f.jobByUID(t, uid) != nil {
			t.Fatalf("job %s made", uid)
		}
	}
	if rejectedBy(f.s, "another host's schedule") != 1 || rejectedBy(f.s, "origin of a kind no schedule runs") != 1 ||
		rejectedBy(f.s, "unknown job") != 1 {
		t.Fatalf("rejections: %v", f.s.Stats().RejectedBy())
	}
	acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub))
	if !acked[fseq] || !acked[rseq] || !acked[bseq] {
		t.Fatal("refused events not acked")
	}

	// A run of a schedule deleted since: kept, without the schedule (and a
	// group of another host is not taken for its group).
	deleted := topics.RandomID(topics.JobIDPrefix)
	o := groupOrigin(sc, g, slot)
	o.Spec.SourceGroup = og.Key
	o.Spec.Tags = []string{topics.GroupTag(og.Key)}
	if err := f.s.DeleteSchedule(ctx, f.admin, f.host, sc.ID); err != nil {
		t.Fatal(err)
	}
	a.ScheduledEvent(t, o, deleted, 2, topics.JobDelivered, nil)
	a.Sync(t)
	if j := f.jobByUID(t, deleted); j == nil || j.ScheduleID != 0 || j.SourceGroupID != 0 || j.ScheduledFor == nil {
		t.Fatalf("run of a deleted schedule: %+v", j)
	}

	// A log of a job that never shows up is deferred for a while, then
	// refused (acked): it belongs to no job this server will ever have.
	ghost := topics.RandomID(topics.JobIDPrefix)
	gseq := a.Log(t, ghost, 1, "lost")
	a.Sync(t)
	f.clock.Advance(server.UnknownLogPatience - time.Minute)
	a.ResendLog(t, gseq, ghost, 1, "lost")
	a.Sync(t)
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); acked[gseq] || f.s.Stats().Deferred.Load() != 2 {
		t.Fatalf("refused before its patience ran out (deferred %d)", f.s.Stats().Deferred.Load())
	}
	f.clock.Advance(2 * time.Minute)
	a.ResendLog(t, gseq, ghost, 1, "lost")
	a.Sync(t)
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); !acked[gseq] || rejectedBy(f.s, "unknown job") != 2 {
		t.Fatalf("a log of a job that never came is still deferred: %v", f.s.Stats().RejectedBy())
	}
}

// TestAgentStartedJobWaitingForAnEarlierEvent: the first event the server
// sees is the terminal one (the others are behind it). The job is made and
// waits, queued, for them: no run command after a hello, no expiry by the
// sweeper, however late they come.
func TestAgentStartedJobWaitingForAnEarlierEvent(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	a := f.agent
	g, sc := f.homeBackups(t, "@daily")
	slot := f.clock.Now().Add(-72 * time.Hour) // ran offline three days ago
	o := groupOrigin(sc, g, slot)
	uid := topics.RandomID(topics.JobIDPrefix)
	res := &topics.JobResult{ExitCode: intp(0)}
	ahead := a.ScheduledEvent(t, o, uid, 4, topics.JobSucceeded, res)
	a.Sync(t)
	j := f.jobByUID(t, uid)
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); acked[ahead] || j == nil || j.Status != topics.JobQueued {
		t.Fatalf("terminal event ahead: acked %v, job %+v", acked[ahead], j)
	}
	before := len(a.Commands(t, f.pub))
	a.Conn++
	a.Connect(t, 1)
	if cmds := a.Commands(t, f.pub)[before:]; slices.ContainsFunc(cmds, func(c topics.Command) bool { return c.Job == uid }) {
		t.Fatalf("a run command for a job the agent started: %+v", cmds)
	}
	if err := f.s.SweepJobs(t.Context()); err != nil {
		t.Fatal(err)
	}
	if j := f.job(t, j.ID); j.Status != topics.JobQueued {
		t.Fatalf("the sweeper expired an agent-started job: %+v", j)
	}
	a.ScheduledEvent(t, o, uid, 2, topics.JobDelivered, nil)
	a.ScheduledEvent(t, o, uid, 3, topics.JobRunning, nil)
	a.ScheduledEvent(t, o, uid, 4, topics.JobSucceeded, res)
	a.Sync(t)
	if j := f.job(t, j.ID); j.Status != topics.JobSucceeded || j.Version != 4 {
		t.Fatalf("after the missing events: %+v", j)
	}
}
