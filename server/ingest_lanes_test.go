package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestJobEventOvertakesQueuedLogLines: while the writer is busy, one job
// queues 20 log batches (a batch each, at 10 lines a batch) and its
// terminal event, then another job's "delivered" arrives. The "delivered"
// is stored and acked with the first batch the writer makes once free, not
// after the 20; the terminal event stays behind its own job's lines (no
// resend asked); every line is stored once and every message acked once.
func TestJobEventOvertakesQueuedLogLines(t *testing.T) {
	f := newJobsFixtureIngest(t, server.IngestOptions{BatchWait: time.Millisecond, MaxBatchLines: 10})
	s, pub := f.s, f.pub
	f.ready(t)
	a := f.agent
	long := f.backup(t)
	a.Event(t, long.UID, 2, topics.JobDelivered, nil)
	a.Event(t, long.UID, 3, topics.JobRunning, nil)
	next := f.backup(t)
	a.Sync(t)
	acked := len(a.Acks(t, pub))

	// Hold the writer, as a long transaction would, while the agent sends.
	tx := s.DB().MustBegin()
	const batches, per = 20, 10
	logSeqs := map[uint64]bool{}
	for i := range batches {
		logSeqs[a.Log(t, long.UID, uint64(i*per+1), lines(i*per+1, i*per+per)...)] = true
	}
	done := a.Event(t, long.UID, 4, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), LogLines: batches * per})
	delivered := a.Event(t, next.UID, 2, topics.JobDelivered, nil)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	a.Sync(t)

	seen := map[uint64]int{}
	logsBefore := -1 // log batches acked before the "delivered"
	logsAcked := 0
	for _, ack := range a.Acks(t, pub)[acked:] {
		if ack.Resend {
			t.Errorf("the writer asked for a resend: %+v", ack)
		}
		for _, seq := range ack.Seqs {
			seen[seq]++
			switch {
			case seq == delivered:
				logsBefore = logsAcked
			case seq == done && logsAcked != batches:
				t.Errorf("the terminal event was acked after %d of its job's %d log batches", logsAcked, batches)
			case logSeqs[seq]:
				logsAcked++
			}
		}
	}
	// The writer may have taken the first log batch before the rest came.
	if logsBefore < 0 || logsBefore > 1 {
		t.Errorf("the \"delivered\" was acked after %d log batches of another job, want at most 1", logsBefore)
	}
	for seq := range logSeqs {
		if seen[seq] != 1 {
			t.Errorf("log batch %d acked %d times", seq, seen[seq])
		}
	}
	if seen[done] != 1 || seen[delivered] != 1 {
		t.Errorf("events acked %d and %d times", seen[done], seen[delivered])
	}
	if j := f.job(t, next.ID); j.Status != topics.JobDelivered {
		t.Errorf("the other job: %s", j.Status)
	}
	j := f.job(t, long.ID)
	var rows, distinct int
	if err := s.DB().Get(&rows, `SELECT COALESCE(SUM(last_n - first_n + 1), 0) FROM job_log_chunks WHERE job_id = ?`, long.ID); err != nil {
		t.Fatal(err)
	}
	stored, err := s.JobLog(t.Context(), long.ID, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	seenN := make(map[uint64]bool)
	for _, l := range stored {
		seenN[l.N] = true
	}
	distinct = len(seenN)
	if j.Status != topics.JobSucceeded || j.LogLines != batches*per || rows != batches*per || distinct != rows {
		t.Errorf("the streaming job: %s, %d lines counted, %d rows, %d distinct", j.Status, j.LogLines, rows, distinct)
	}
}
