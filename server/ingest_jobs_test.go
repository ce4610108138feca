package server_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

const testSnapshotID = "4f1c2a9be0d3c7a8f00b6d5e4c3b2a1908f7e6d5c4b3a2918071625344352617"

// TestIngestJobStateMachine drives a job through the writer: each rule of
// ingest_jobs.go, with what is acked and what is counted.
func TestIngestJobStateMachine(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	f.ready(t)
	b := f.backup(t)
	a := f.agent
	seqDelivered := a.Event(t, b.UID, 2, topics.JobDelivered, nil)
	a.Sync(t)
	j := f.job(t, b.ID)
	if j.Status != topics.JobDelivered || j.Version != 2 || j.StartedAt != nil {
		t.Fatalf("delivered: %+v", j)
	}
	seqRunning := a.Event(t, b.UID, 3, topics.JobRunning, nil)
	a.Sync(t)
	if j := f.job(t, b.ID); j.Status != topics.JobRunning || j.StartedAt == nil {
		t.Fatalf("running: %+v", j)
	}

	stats := f.s.Stats()
	dup0, rej0 := stats.Duplicates.Load(), stats.Rejected.Load()
	seqDup := a.Event(t, b.UID, 3, topics.JobRunning, nil)                  // the outbox resent it
	seqStale := a.Event(t, b.UID, 2, topics.JobDelivered, nil)              // an old one, late
	seqBack := a.Event(t, b.UID, 3, topics.JobDelivered, nil)               // same version, other state
	seqSkip := a.Event(t, b.UID, 4, topics.JobExpired, &topics.JobResult{}) // running → expired is not a move
	a.Sync(t)
	if d := stats.Duplicates.Load() - dup0; d != 1 {
		t.Fatalf("duplicates %d, want 1", d)
	}
	if r := stats.Rejected.Load() - rej0; r != 3 || rejectedBy(f.s, "stale version") != 2 || rejectedBy(f.s, "forbidden transition") != 1 {
		t.Fatalf("rejected %d: %v", r, stats.RejectedBy())
	}
	if j := f.job(t, b.ID); j.Status != topics.JobRunning || j.Version != 3 {
		t.Fatalf("refused events changed the job: %+v", j)
	}

	started := time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)
	res := &topics.JobResult{ExitCode: intp(0), ResticVersion: "0.18.1", StartedAt: started, DurationMS: 60000,
		SnapshotID: testSnapshotID, Backup: &topics.BackupSummary{FilesNew: 3, DataAdded: 4096, TotalFilesProcessed: 10}}
	seqDone := a.Event(t, b.UID, 4, topics.JobSucceeded, res)
	a.Sync(t)
	j = f.job(t, b.ID)
	if j.Status != topics.JobSucceeded || j.Version != 4 || j.ExitCode == nil || *j.ExitCode != 0 || j.SnapshotID != testSnapshotID ||
		j.FinishedAt == nil || j.Summary == nil || j.Summary.Backup.FilesNew != 3 || j.Summary.ResticVersion != "0.18.1" {
		t.Fatalf("succeeded: %+v", j)
	}
	// Terminal states never change, whatever the version.
	seqAfter := a.Event(t, b.UID, 9, topics.JobFailed, &topics.JobResult{Reason: "late"})
	a.Sync(t)
	if j := f.job(t, b.ID); j.Status != topics.JobSucceeded || j.Reason != "" {
		t.Fatalf("a terminal job changed: %+v", j)
	}

	// Unknown job; another host's job; a body naming another job than its topic.
	seqUnknown := a.Event(t, "j_doesnotexist0000000000000", 2, topics.JobDelivered, nil)
	other := servertest.NewHostAgent(f.s, enrollTestHost(t, f.s, "db-1"))
	other.Conn = 7
	c := f.backup(t)
	seqForeign := other.Event(t, c.UID, 2, topics.JobDelivered, nil)
	seqMismatch := a.NextSeq()
	a.Send(t, topics.JobEventTopic(f.host, c.UID), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.host),
		Seq: seqMismatch, Job: b.UID, Version: 5, State: topics.JobRunning, At: time.Now()})
	a.Sync(t)
	if j := f.job(t, c.ID); j.Status != topics.JobQueued {
		t.Fatalf("another host moved the job: %+v", j)
	}
	if rejectedBy(f.s, "unknown job") != 1 || rejectedBy(f.s, "another host's job") != 1 ||
		rejectedBy(f.s, "job in the message is not the topic's") != 1 {
		t.Fatalf("rejections: %v", stats.RejectedBy())
	}

	// Malformed and forged payloads: refused before the queue, no seq to ack.
	malformed := a.NextSeq()
	a.S.HandleMessage(topics.JobEventTopic(f.host, c.UID), []byte(`{"v":1,"type":"job.event","seq":`), f.host, a.Conn)
	a.Send(t, topics.JobEventTopic(f.host, c.UID), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, other.Host),
		Seq: malformed, Job: c.UID, Version: 2, State: topics.JobDelivered, At: time.Now()}) // envelope claims the other host
	a.Send(t, topics.JobEventTopic(f.host, c.UID), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.host),
		Seq: malformed, Job: c.UID, Version: 2, State: topics.JobQueued, At: time.Now()}) // queued is not reported
	f.s.HandleMessage(topics.JobEventTopic(f.host, c.UID), []byte(`{}`), other.Host, 7) // published by another client
	a.Sync(t)
	if rejectedBy(f.s, "bad job-event") != 3 || rejectedBy(f.s, "topic host is not the publishing client") != 1 {
		t.Fatalf("rejections: %v", stats.RejectedBy())
	}
	if j := f.job(t, c.ID); j.Status != topics.JobQueued {
		t.Fatalf("a malformed event moved the job: %+v", j)
	}

	acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub))
	for name, seq := range map[string]uint64{"delivered": seqDelivered, "running": seqRunning, "duplicate": seqDup,
		"stale": seqStale, "backwards": seqBack, "forbidden": seqSkip, "terminal": seqDone, "after terminal": seqAfter,
		"unknown job": seqUnknown, "mismatch": seqMismatch} {
		if !acked[seq] {
			t.Errorf("%s (seq %d) not acked", name, seq)
		}
	}
	if acked[malformed] {
		t.Error("a malformed message was acked")
	}
	if foreign, _ := servertest.AckedSeqs(other.Acks(t, f.pub)); !foreign[seqForeign] || len(foreign) != 1 {
		t.Errorf("the other host's refused event not acked to it: %v", foreign)
	}
	_ = ctx
}

// TestIngestDefersEventsAheadOfAMissingOne: "succeeded" overtaking
// "running" is kept unacked until the outbox resends it.
func TestIngestDefersEventsAheadOfAMissingOne(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	b := f.backup(t)
	a := f.agent
	a.Event(t, b.UID, 2, topics.JobDelivered, nil)
	done := &topics.JobResult{ExitCode: intp(0), SnapshotID: testSnapshotID}
	early := a.Event(t, b.UID, 4, topics.JobSucceeded, done)
	a.Sync(t)
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); acked[early] || f.s.Stats().Deferred.Load() != 1 {
		t.Fatalf("an event ahead of a missing one was acked (deferred %d)", f.s.Stats().Deferred.Load())
	}
	a.Event(t, b.UID, 3, topics.JobRunning, nil)
	again := a.Event(t, b.UID, 4, topics.JobSucceeded, done) // the outbox resends it
	a.Sync(t)
	if j := f.job(t, b.ID); j.Status != topics.JobSucceeded || j.SnapshotID != testSnapshotID {
		t.Fatalf("after the missing event arrived: %+v", j)
	}
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); !acked[again] {
		t.Fatal("resent event not acked")
	}
	// Skipping "delivered" is allowed: running straight from queued.
	c := f.backup(t)
	a.Event(t, c.UID, 3, topics.JobRunning, nil)
	a.Sync(t)
	if j := f.job(t, c.ID); j.Status != topics.JobRunning || j.Version != 3 {
		t.Fatalf("running straight from queued: %+v", j)
	}
}

// TestAcksOnlyAfterCommit checks, at the moment each ack is published,
// that what it names is readable through another connection: stored and
// committed.
func TestAcksOnlyAfterCommit(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	b := f.backup(t)
	var mu sync.Mutex
	stored := map[uint64]func() bool{}
	var problems []string
	f.pub.Hook = func(m servertest.PublishedMessage) {
		if m.Topic != topics.AckTopic(f.host) {
			return
		}
		var ack topics.Ack
		if err := topics.Decode(m.Payload, &ack); err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, seq := range ack.Seqs {
			if check := stored[seq]; check != nil && !check() {
				problems = append(problems, "ack names an uncommitted message")
			}
		}
	}
	lineStored := func(n int) func() bool {
		return func() bool {
			var c int
			_ = f.s.DB().Get(&c, `SELECT COUNT(*) FROM job_log_chunks WHERE job_id = ? AND first_n <= ? AND last_n >= ?`, b.ID, n, n)
			return c == 1
		}
	}
	versionStored := func(v int64) func() bool {
		return func() bool {
			var got int64
			_ = f.s.DB().Get(&got, `SELECT version FROM jobs WHERE id = ?`, b.ID)
			return got >= v
		}
	}
	// The test goroutine is the only one taking sequence numbers: the next
	// one is known before the message is sent, so its check is in place
	// before the writer can ack it.
	expect := func(check func() bool) {
		mu.Lock()
		stored[f.agent.Seq()+1] = check
		mu.Unlock()
	}
	for i := range 50 {
		n := i*2 + 1
		expect(lineStored(n + 1))
		f.agent.Log(t, b.UID, uint64(n), "line", "line")
	}
	expect(versionStored(2))
	f.agent.Event(t, b.UID, 2, topics.JobDelivered, nil)
	f.agent.Sync(t)
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("%d acks came before the commit", len(problems))
	}
	acked, _ := servertest.AckedSeqs(f.agent.Acks(t, f.pub))
	for s := range stored {
		if !acked[s] {
			t.Fatalf("seq %d never acked", s)
		}
	}
}

func TestMonitorEventWhenAJobEnds(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	b := f.backup(t)
	f.finish(t, b.UID, topics.JobWarning, &topics.JobResult{ExitCode: intp(3), Reason: "Some files could not be read.",
		SnapshotID: testSnapshotID, ErrorCount: 2})
	var found bool
	for _, m := range f.pub.On(topics.MonitorEventsTopic()) {
		var e topics.MonitorEvent
		if err := topics.Decode(m.Payload, &e); err != nil {
			t.Fatal(err)
		}
		if e.Event == "job.finished" && e.Job == b.ID {
			found = e.Status == string(topics.JobWarning) && e.Kind == "backup" && e.Name == "web-1" && !m.Retain
		}
	}
	if !found {
		t.Fatal("no job.finished monitor event")
	}
	// The retained host state now carries the last backup (published by
	// the host states' worker, jobs_host_states.go).
	f.waitMonitorState(t, "the last backup", func(st *topics.MonitorHostState) bool {
		return st.LastBackupStatus == string(topics.JobWarning) && st.LastBackupJob == b.ID && st.LastBackup != nil
	})
	states := f.pub.On(topics.MonitorHostTopic(b.HostID))
	if !states[len(states)-1].Retain {
		t.Fatal("the host state is not retained")
	}
}

// TestJobEndDoesNotHoldTheWriter: the retained host state a backup's end
// changes is loaded and published off the ingest writer's goroutine, so a
// job event that comes meanwhile is stored and acknowledged at once. With
// the state published inline (the writer loaded the host after each
// batch's commit) the second job's "delivered" waited for the publish to
// end — here forever: the publish is held until the test lets it go.
func TestJobEndDoesNotHoldTheWriter(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	first := f.backup(t)
	// The state naming the first backup's end, wherever it is published
	// from (the presence's flush may publish one too), is held.
	showsFirst := func(m servertest.PublishedMessage) bool {
		var st topics.MonitorHostState
		return m.Topic == topics.MonitorHostTopic(f.host) && topics.Decode(m.Payload, &st) == nil &&
			st.LastBackupJob == first.ID && st.LastBackupStatus == string(topics.JobSucceeded)
	}
	release, held := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // before the service stops: it waits for the worker
	f.pub.SetHook(func(m servertest.PublishedMessage) {
		if !showsFirst(m) {
			return
		}
		select {
		case held <- struct{}{}:
		default:
		}
		<-release
	})
	f.finish(t, first.UID, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), SnapshotID: testSnapshotID})
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the host state was not published after the backup ended")
	}
	second := f.backup(t)
	seq := f.agent.Event(t, second.UID, 2, topics.JobDelivered, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := f.s.SyncIngest(ctx); err != nil {
		t.Fatalf("a job event waited for the host state's publish: %v", err)
	}
	if got := f.job(t, second.ID).Status; got != topics.JobDelivered {
		t.Fatalf("second job %s, want delivered", got)
	}
	acked := false
	for _, a := range f.agent.Acks(t, f.pub) {
		acked = acked || slices.Contains(a.Seqs, seq)
	}
	if !acked {
		t.Fatal("the second job's delivered was not acknowledged")
	}
	let()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(f.pub.On(topics.MonitorHostTopic(f.host)), showsFirst) {
		if time.Now().After(deadline) {
			t.Fatal("the held host state was not published once let go")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIngestQueueFullBlocksThenDrops(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{Ingest: server.IngestOptions{QueueSize: 1, EnqueueWait: 20 * time.Millisecond}})
	pub := &servertest.Publisher{}
	s.SetPublisher(pub)
	host := enrollTestHost(t, s, "web-1")
	a := servertest.NewHostAgent(s, host)
	// The writer is not running: the first message waits in the queue, the
	// second finds it full, waits EnqueueWait and is dropped (unacked, so
	// the agent resends it).
	first := a.Snapshots(t, "rep1", 1, 1, time.Now().Add(-time.Minute))
	a.Snapshots(t, "rep2", 1, 1, time.Now())
	if st := s.Stats(); st.QueueFull.Load() != 1 || st.Dropped.Load() != 1 {
		t.Fatalf("queue full %d, dropped %d", st.QueueFull.Load(), st.Dropped.Load())
	}
	servertest.RunInBackground(t, s)
	a.Sync(t)
	if acked, _ := servertest.AckedSeqs(a.Acks(t, pub)); len(acked) != 1 || !acked[first] {
		t.Fatalf("acked %v, want only the queued one", acked)
	}
}

func TestJobProgressIsLiveAndDroppedAtTheEnd(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	b := f.backup(t)
	events, stop := f.s.Events().Subscribe()
	defer stop()
	f.agent.Event(t, b.UID, 2, topics.JobDelivered, nil)
	f.agent.Event(t, b.UID, 3, topics.JobRunning, nil)
	f.agent.Sync(t)
	f.agent.Progress(t, b.UID, 42.5)
	p, ok := f.s.JobProgress(b.ID)
	if !ok || p.Percent != 42.5 {
		t.Fatalf("progress %+v %v", p, ok)
	}
	waitEvent(t, events, server.EventJobProgress)
	f.agent.Progress(t, b.UID, 43) // within ProgressEvery: kept, not announced again
	if p, _ := f.s.JobProgress(b.ID); p.Percent != 43 {
		t.Fatalf("latest progress not kept: %+v", p)
	}
	// Unknown job, another host's job, a body naming another job: refused.
	f.agent.Progress(t, "j_doesnotexist0000000000000", 1)
	other := servertest.NewHostAgent(f.s, enrollTestHost(t, f.s, "db-1"))
	other.Progress(t, b.UID, 99)
	f.agent.Send(t, topics.JobProgressTopic(f.host, b.UID), &topics.JobProgress{
		Envelope: topics.NewEnvelope(topics.TypeJobProgress, f.host), Job: "j_someotherjob000000000000000", Percent: 1})
	if p, _ := f.s.JobProgress(b.ID); p.Percent != 43 {
		t.Fatalf("refused progress applied: %+v", p)
	}
	if rejectedBy(f.s, "unknown job") != 1 || rejectedBy(f.s, "another host's job") != 1 {
		t.Fatalf("rejections: %v", f.s.Stats().RejectedBy())
	}
	f.agent.Event(t, b.UID, 4, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0)})
	f.agent.Sync(t)
	if _, ok := f.s.JobProgress(b.ID); ok {
		t.Fatal("progress kept after the job ended")
	}
	f.agent.Progress(t, b.UID, 100) // late
	if _, ok := f.s.JobProgress(b.ID); ok {
		t.Fatal("late progress of an ended job kept")
	}
}

func TestAcceptPendingHostWithRepository(t *testing.T) {
	s, pub, _ := announceFixture(t, server.Options{Ingest: server.IngestOptions{BatchWait: time.Millisecond}})
	servertest.RunInBackground(t, s)
	ctx := t.Context()
	servertest.NewPendingAgent(t, "kiosk-9").Announce(t, s, pub, 1, "192.0.2.9:1")
	id := mustListPending(t, s)[0].ID
	// A bad repository refuses the whole accept: no host, still pending.
	if _, err := s.AcceptPendingHost(ctx, server.CLIActor(), id, "kiosk-9", &server.RepositoryInput{URL: "relative", Password: "x"}); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("bad repository: %v", err)
	}
	if hosts, _ := s.ListHosts(ctx); len(hosts) != 0 || len(mustListPending(t, s)) != 1 {
		t.Fatal("a refused accept changed something")
	}
	hostID, err := s.AcceptPendingHost(ctx, server.CLIActor(), id, "kiosk-9", &server.RepositoryInput{URL: "/srv/restic", Password: testRepoPassword,
		Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "aws-secret-1234"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.GetRepository(ctx, hostID)
	if err != nil || st.State != server.RepoInitializing || st.ConfigVersion != 1 || st.InitJobID == 0 {
		t.Fatalf("repository after accept: %+v %v", st, err)
	}
	audit, _ := s.ListAudit(ctx, server.AuditFilter{Action: "pending_host.accept"})
	if len(audit) != 1 || !strings.Contains(audit[0].Details, `"url":"/srv/restic"`) ||
		strings.Contains(audit[0].Details, testRepoPassword) || strings.Contains(audit[0].Details, "aws-secret-1234") {
		t.Fatalf("audit: %+v", audit)
	}
	// The agent's first hello as the host brings the config and the init command.
	a := servertest.NewHostAgent(s, hostID)
	a.Connect(t, 0)
	cfgs, cmds := a.Configs(t, pub), a.Commands(t, pub)
	if len(cfgs) != 1 || cfgs[0].Repository.Password != testRepoPassword || len(cmds) != 1 || cmds[0].Spec.Kind != topics.JobInit ||
		cmds[0].ConfigVersion != 1 {
		t.Fatalf("after the first hello: configs %+v, commands %+v", cfgs, cmds)
	}
}

// A job's events say which change stored its end (Event.Ended), once: per-job
// figures count from it (web's job-duration metric). With several replicas
// another replica may read the job ended while handling an earlier event of
// it, so "the job is terminal when read" is not the end's own event.
func TestJobEventMarksItsEndOnce(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	events, stop := f.s.Events().Subscribe()
	defer stop()
	b := f.backup(t)
	f.finish(t, b.UID, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), StartedAt: time.Now().Add(-time.Second)})
	queued := f.backup(t)
	if _, err := f.s.CancelJob(t.Context(), f.operator, queued.ID); err != nil {
		t.Fatal(err)
	}
	ended := map[int64]int{}
	updates := map[int64]int{}
	deadline := time.After(10 * time.Second)
	count := func(e server.Event) {
		if e.Kind == server.EventJobUpdated {
			updates[e.JobID]++
			if e.Ended {
				ended[e.JobID]++
			}
		}
	}
	for ended[b.ID] == 0 || ended[queued.ID] == 0 {
		select {
		case e := <-events:
			count(e)
		case <-deadline:
			t.Fatalf("job events: %v, ended %v", updates, ended)
		}
	}
	for drained := false; !drained; { // what else is published already
		select {
		case e := <-events:
			count(e)
		default:
			drained = true
		}
	}
	if updates[b.ID] < 2 || updates[queued.ID] < 2 {
		t.Fatalf("job events %v: want the earlier changes too, not marked", updates)
	}
	if ended[b.ID] != 1 || ended[queued.ID] != 1 {
		t.Fatalf("ended events %v over %v updates, want one per job", ended, updates)
	}
}
