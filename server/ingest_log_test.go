package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

func lines(first, last int) []string {
	var out []string
	for n := first; n <= last; n++ {
		out = append(out, fmt.Sprintf("line %d", n))
	}
	return out
}

// TestJobLogIdempotentWithGapsAndResends: resent and overlapping batches
// add nothing twice, out-of-order batches fill in, and a gap (or a terminal
// event announcing more lines than are stored) asks the agent to resend —
// at most once per ResendEvery.
func TestJobLogIdempotentWithGapsAndResends(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	f.ready(t)
	b := f.backup(t)
	a := f.agent
	resends := func() int {
		n := 0
		for _, ack := range a.Acks(t, f.pub) {
			if ack.Resend {
				n++
			}
		}
		return n
	}
	a.Log(t, b.UID, 1, lines(1, 3)...)
	a.Log(t, b.UID, 4, lines(4, 6)...)
	a.Log(t, b.UID, 1, lines(1, 3)...) // the outbox resent it
	a.Sync(t)
	if resends() != 0 {
		t.Fatal("resend asked without a gap")
	}
	dups := f.s.Stats().Duplicates.Load()
	a.Log(t, b.UID, 10, lines(10, 12)...) // 7-9 are still on their way
	a.Sync(t)
	if resends() != 1 {
		t.Fatal("a gap did not ask for a resend")
	}
	a.Log(t, b.UID, 7, lines(7, 9)...)
	a.Log(t, b.UID, 11, lines(11, 14)...) // overlaps: only 13 and 14 are new
	a.Log(t, b.UID, 16, lines(16, 16)...) // another gap, right after the last resend
	a.Sync(t)
	if resends() != 1 {
		t.Fatal("resends not rate-limited per host")
	}
	if f.s.Stats().Duplicates.Load() != dups {
		t.Fatal("a partly new batch counted as a duplicate")
	}
	got, err := f.s.JobLog(ctx, b.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := append(lines(1, 14), lines(16, 16)...)
	if len(got) != len(want) {
		t.Fatalf("stored %d lines, want %d", len(got), len(want))
	}
	for i, l := range got {
		if l.Text != want[i] || l.Stream != topics.StreamStdout || l.T.IsZero() {
			t.Fatalf("line %d = %+v, want %q", i, l, want[i])
		}
	}
	if j := f.job(t, b.ID); j.LogLines != 15 {
		t.Fatalf("job counts %d lines", j.LogLines)
	}
	// Paging.
	page, _ := f.s.JobLog(ctx, b.ID, 5, 3)
	if len(page) != 3 || page[0].N != 6 || page[2].N != 8 {
		t.Fatalf("page: %+v", page)
	}
	if _, err := f.s.JobLog(ctx, 999, 0, 0); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("log of no job: %v", err)
	}

	// The job ends announcing 20 lines while 15 are stored: resend (the
	// limit has passed).
	f.clock.Advance(f.s.IngestOptions().ResendEvery)
	f.finish(t, b.UID, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), LogLines: 20})
	if resends() != 2 {
		t.Fatal("missing lines at the end did not ask for a resend")
	}
	// Lines arriving after the terminal event are still stored.
	a.Log(t, b.UID, 15, "line 15")
	a.Log(t, b.UID, 17, lines(17, 20)...)
	a.Sync(t)
	if j := f.job(t, b.ID); j.LogLines != 20 {
		t.Fatalf("after the late lines: %d", j.LogLines)
	}
	// A log for a job that is not this host's, or too far out: refused.
	other := servertest.NewHostAgent(f.s, enrollTestHost(t, f.s, "db-1"))
	other.Log(t, b.UID, 21, "forged")
	a.Log(t, b.UID, server.MaxJobLogLines, "one", "too many")
	a.Sync(t)
	other.Sync(t)
	if j := f.job(t, b.ID); j.LogLines != 20 || rejectedBy(f.s, "another host's job") != 1 || rejectedBy(f.s, "log too long") != 1 {
		t.Fatalf("refused logs: %d lines, %v", j.LogLines, f.s.Stats().RejectedBy())
	}
}

func TestSnapshotReportsAssembleAndReplace(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	a := f.agent
	snap := func(i int, at time.Time) topics.SnapshotInfo {
		return topics.SnapshotInfo{ID: fmt.Sprintf("%064x", i), Time: at, Hostname: "web-1", Paths: []string{"/etc"}}
	}
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	list, err := f.s.Snapshots(ctx, f.host)
	if err != nil || list.ReportedAt != nil || len(list.Snapshots) != 0 {
		t.Fatalf("before any report: %+v %v", list, err)
	}
	events, stop := f.s.Events().Subscribe()
	defer stop()
	// A three-part report, parts out of order, one resent.
	taken := t0.Add(time.Hour)
	p3 := a.Snapshots(t, "rep-a", 3, 3, taken, snap(5, t0.Add(5*time.Minute)))
	a.Snapshots(t, "rep-a", 1, 3, taken, snap(1, t0.Add(time.Minute)), snap(2, t0.Add(2*time.Minute)))
	a.Snapshots(t, "rep-a", 3, 3, taken, snap(5, t0.Add(5*time.Minute)))
	a.Sync(t)
	if list, _ := f.s.Snapshots(ctx, f.host); list.ReportedAt != nil {
		t.Fatal("an incomplete report was applied")
	}
	p2 := a.Snapshots(t, "rep-a", 2, 3, taken, snap(3, t0.Add(3*time.Minute)), snap(4, t0.Add(4*time.Minute)))
	a.Sync(t)
	waitEvent(t, events, server.EventSnapshotsChanged)
	list, _ = f.s.Snapshots(ctx, f.host)
	if list.ReportedAt == nil || !list.ReportedAt.Equal(taken) || len(list.Snapshots) != 5 {
		t.Fatalf("assembled list: %+v", list)
	}
	if list.Snapshots[0].ID != fmt.Sprintf("%064x", 5) || list.Snapshots[0].ShortID != "00000000" || list.Snapshots[0].Paths[0] != "/etc" {
		t.Fatalf("not newest first: %+v", list.Snapshots[0])
	}
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); !acked[p3] || !acked[p2] {
		t.Fatal("parts not acked")
	}
	var staged int
	_ = f.s.DB().Get(&staged, `SELECT COUNT(*) FROM snapshot_report_parts`)
	if staged != 0 {
		t.Fatalf("%d parts left staged after assembly", staged)
	}

	// An older report arriving late is dropped (acked); a newer one replaces.
	late := a.Snapshots(t, "rep-old", 1, 1, t0, snap(9, t0))
	a.Snapshots(t, "rep-b", 1, 1, taken.Add(time.Hour), snap(6, t0.Add(6*time.Minute)))
	a.Sync(t)
	list, _ = f.s.Snapshots(ctx, f.host)
	if len(list.Snapshots) != 1 || list.Snapshots[0].ID != fmt.Sprintf("%064x", 6) {
		t.Fatalf("after a newer report: %+v", list.Snapshots)
	}
	if acked, _ := servertest.AckedSeqs(a.Acks(t, f.pub)); !acked[late] {
		t.Fatal("a superseded report not acked")
	}
	// Parts that disagree about the report are refused.
	t2 := taken.Add(2 * time.Hour)
	a.Snapshots(t, "rep-c", 1, 2, t2, snap(7, t0))
	a.Snapshots(t, "rep-c", 2, 3, t2, snap(8, t0))
	a.Sync(t)
	if rejectedBy(f.s, "inconsistent snapshot report") != 1 {
		t.Fatalf("rejections: %v", f.s.Stats().RejectedBy())
	}
	// An empty list (everything forgotten) is a list too.
	a.Snapshots(t, "rep-d", 1, 1, t2.Add(time.Hour))
	a.Sync(t)
	if list, _ := f.s.Snapshots(ctx, f.host); len(list.Snapshots) != 0 || list.ReportedAt == nil {
		t.Fatalf("after an empty report: %+v", list)
	}
	// Parts of a report that never completes go with the sweep.
	a.Snapshots(t, "rep-e", 1, 2, t2.Add(2*time.Hour), snap(10, t0))
	a.Sync(t)
	_ = f.s.DB().Get(&staged, `SELECT COUNT(*) FROM snapshot_report_parts`)
	if staged != 1 {
		t.Fatalf("%d parts staged, want 1", staged)
	}
	f.clock.Advance(server.StagedPartsTTL + time.Minute)
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	_ = f.s.DB().Get(&staged, `SELECT COUNT(*) FROM snapshot_report_parts`)
	if staged != 0 {
		t.Fatalf("%d stale parts survived the sweep", staged)
	}
	if _, err := f.s.Snapshots(ctx, "h_nosuchhost"); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("snapshots of no host: %v", err)
	}
}
