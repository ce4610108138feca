package server_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// ackOrder lists the sequences the acks name, in the order they were acked.
func ackOrder(acks []topics.Ack) []uint64 {
	var out []uint64
	for _, a := range acks {
		out = append(out, a.Seqs...)
	}
	return out
}

// ackedBefore counts the sequences of among acked before seq in order, and
// reports whether seq was acked at all.
func ackedBefore(order []uint64, seq uint64, among map[uint64]bool) (int, bool) {
	n := 0
	for _, s := range order {
		if s == seq {
			return n, true
		}
		if among[s] {
			n++
		}
	}
	return n, false
}

// writerParked reports whether the ingest writer's goroutine waits in a
// select: with the queue empty (it took what was sent), the writer then
// waits for its next turn, not for a message.
func writerParked() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "server.(*Service).runIngestWriter") {
			head, _, _ := strings.Cut(g, "\n")
			return strings.Contains(head, "[select")
		}
	}
	return false
}

// twoJobs readies the fixture's host with one job running (long) and one
// queued (next).
func twoJobs(t *testing.T, f *jobsFixture) (long, next *server.Job) {
	t.Helper()
	f.ready(t)
	long = f.backup(t)
	f.agent.Event(t, long.UID, 2, topics.JobDelivered, nil)
	f.agent.Event(t, long.UID, 3, topics.JobRunning, nil)
	next = f.backup(t)
	f.agent.Sync(t)
	return long, next
}

// TestJobEventIsStoredWithoutLingering: a job event is stored and acked at
// once, not after the BatchWait that gathers log batches (here an hour: a
// "delivered" that waited for it would never be acked in this test).
func TestJobEventIsStoredWithoutLingering(t *testing.T) {
	f := newJobsFixtureIngest(t, server.IngestOptions{BatchWait: time.Hour})
	f.ready(t)
	j := f.backup(t)
	seq := f.agent.Event(t, j.UID, 2, topics.JobDelivered, nil)
	waitFor(t, "the ack of \"delivered\"", func() bool {
		_, acked := ackedBefore(ackOrder(f.agent.Acks(t, f.pub)), seq, nil)
		return acked
	})
	if got := f.job(t, j.ID); got.Status != topics.JobDelivered {
		t.Fatalf("job acked as delivered is %s", got.Status)
	}
}

// TestJobEventStoredWhileLogsWaitForTheirTurn: a log batch waits while an
// API write waits for the writer (API writes go first), but a job event
// that arrives meanwhile is stored before it, with the API write, instead
// of waiting behind the log batch's turn (up to maxYield, 250 ms).
func TestJobEventStoredWhileLogsWaitForTheirTurn(t *testing.T) {
	// MaxBatchLines 5: a log batch of 5 lines is a whole batch, due at once.
	f := newJobsFixtureIngest(t, server.IngestOptions{BatchWait: time.Millisecond, MaxBatchLines: 5})
	s, a := f.s, f.agent
	long, next := twoJobs(t, f)

	tx := s.DB().MustBegin() // the writer is busy
	wrote := make(chan error, 1)
	go func() {
		_, err := s.SetHostTags(context.Background(), server.CLIActor(), f.host, []string{"waiting"})
		wrote <- err
	}()
	waitFor(t, "the API write to wait for the writer", func() bool { return s.WritesWaiting() > 0 })
	logSeq := a.Log(t, long.UID, 1, lines(1, 5)...)
	waitFor(t, "the writer to take the log batch and wait for its turn", func() bool {
		return s.IngestQueued() == 0 && writerParked()
	})
	delivered := a.Event(t, next.UID, 2, topics.JobDelivered, nil)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("the API write: %v", err)
	}
	a.Sync(t)

	order := ackOrder(a.Acks(t, f.pub))
	logs, acked := ackedBefore(order, delivered, map[uint64]bool{logSeq: true})
	if !acked || logs != 0 {
		t.Errorf("\"delivered\" acked %v, after the log batch that waited for its turn: %v (acks %v)", acked, logs == 1, order)
	}
	if n, ok := ackedBefore(order, logSeq, nil); !ok {
		t.Errorf("the log batch was never acked (acks %v, %d before)", order, n)
	}
	if j := f.job(t, next.ID); j.Status != topics.JobDelivered {
		t.Errorf("the other job: %s", j.Status)
	}
	if j := f.job(t, long.ID); j.LogLines != 5 {
		t.Errorf("the running job has %d log lines stored, want 5", j.LogLines)
	}
}

// TestLogBatchGivesWayToAJobEvent: a batch of log batches that has begun
// stops once it stored a quarter of its limit when a job event waits in
// the queue, so the event waits for that part, not the whole batch; the
// rest of the batch is stored after it, every message once.
func TestLogBatchGivesWayToAJobEvent(t *testing.T) {
	const maxBatch = 8
	// BatchWait an hour: the batch is the 8 log batches, whole.
	f := newJobsFixtureIngest(t, server.IngestOptions{BatchWait: time.Hour, MaxBatch: maxBatch})
	s, a := f.s, f.agent
	long, next := twoJobs(t, f)

	tx := s.DB().MustBegin() // the writer is busy while the batch forms
	logSeqs := map[uint64]bool{}
	for n := 1; n <= maxBatch; n++ {
		logSeqs[a.Log(t, long.UID, uint64(n), lines(n, n)...)] = true
	}
	waitFor(t, "the writer to take the log batches", func() bool { return s.IngestQueued() == 0 })
	delivered := a.Event(t, next.UID, 2, topics.JobDelivered, nil)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	a.Sync(t)

	order := ackOrder(a.Acks(t, f.pub))
	logs, acked := ackedBefore(order, delivered, logSeqs)
	if !acked || logs > maxBatch/4 {
		t.Errorf("\"delivered\" acked %v after %d of the %d log batches, want at most %d (acks %v)", acked, logs, maxBatch, maxBatch/4, order)
	}
	seen := map[uint64]int{}
	for _, seq := range order {
		seen[seq]++
	}
	for seq := range logSeqs {
		if seen[seq] != 1 {
			t.Errorf("log batch %d acked %d times", seq, seen[seq])
		}
	}
	if j := f.job(t, long.ID); j.LogLines != maxBatch {
		t.Errorf("the running job has %d log lines stored, want %d", j.LogLines, maxBatch)
	}
}

// TestJobEventsGoAheadOfQueuedWrites: on SQLite, where writes queue for
// the writer first come first served, a batch of job events does not
// queue behind every API write waiting there: it asks for the writer
// beside the one at the head of the queue, so a "delivered" is stored
// before most of eight job POSTs that waited before it.
func TestJobEventsGoAheadOfQueuedWrites(t *testing.T) {
	s := servertest.MustOpenSQLiteService(t, server.Options{})
	var mu sync.Mutex
	var order []string // "api" as each POST returns, "ack" as an ack goes out
	pub := &servertest.Publisher{}
	s.SetPublisher(pub)
	servertest.RunInBackground(t, s)
	host := enrollTestHost(t, s, "web-1")
	if _, err := s.SetRepository(t.Context(), server.CLIActor(), host, server.RepositoryInput{URL: "/srv/restic", Password: testRepoPassword}); err != nil {
		t.Fatal(err)
	}
	operator := servertest.ActorFor(servertest.MustCreateUser(t, s, "otto", server.RoleOperator), "web")
	backup := server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}}
	job, err := s.CreateJob(t.Context(), operator, host, backup)
	if err != nil {
		t.Fatal(err)
	}
	a := servertest.NewHostAgent(s, host)
	pub.SetHook(func(m servertest.PublishedMessage) {
		if m.Topic == topics.AckTopic(host) {
			mu.Lock()
			order = append(order, "ack")
			mu.Unlock()
		}
	})

	tx := s.DB().MustBegin() // the writer is busy while the writes queue
	t.Cleanup(func() { _ = tx.Rollback() })
	waits := s.DB().WriterStats().WaitCount
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.CreateJob(context.Background(), operator, host, backup); err != nil {
				t.Errorf("POST %d: %v", i, err)
			}
			mu.Lock()
			order = append(order, "api")
			mu.Unlock()
		})
		waitFor(t, fmt.Sprintf("write %d to wait for the writer", i+1), func() bool { return s.WritesWaiting() == i+1 })
	}
	a.Event(t, job.UID, 2, topics.JobDelivered, nil)
	// The first write asks database/sql for the writer; the events batch
	// asks beside it instead of queueing behind the eight.
	waitFor(t, "the events batch to ask for the writer", func() bool { return s.DB().WriterStats().WaitCount >= waits+2 })
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	a.Sync(t)

	mu.Lock()
	defer mu.Unlock()
	pos := slices.Index(order, "ack")
	if pos < 0 || pos > n/2 {
		t.Errorf("the \"delivered\" was stored after %d of the %d writes queued before it (order %v)", pos, n, order)
	}
	if j, err := s.GetJob(t.Context(), job.ID); err != nil || j.Status != topics.JobDelivered {
		t.Errorf("job: %+v, %v", j, err)
	}
}
