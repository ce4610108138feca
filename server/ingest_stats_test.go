package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// pendingStats returns the host's stats jobs still waiting.
func (f *jobsFixture) pendingStats(t *testing.T) []string {
	t.Helper()
	var uids []string
	if err := f.s.DB().Select(&uids, `SELECT uid FROM jobs WHERE host_id = ? AND kind = 'stats' AND status = 'queued' ORDER BY id`, f.host); err != nil {
		t.Fatal(err)
	}
	return uids
}

// finishNow walks a queued job to state like finish, its end stamped
// with the fixture's clock (the charts go by when a job ended).
func (f *jobsFixture) finishNow(t *testing.T, uid string, state topics.JobState, res *topics.JobResult) {
	t.Helper()
	f.agent.Event(t, uid, 2, topics.JobDelivered, nil)
	f.agent.Event(t, uid, 3, topics.JobRunning, nil)
	f.agent.Send(t, topics.JobEventTopic(f.host, uid), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, f.host),
		Seq: f.agent.NextSeq(), Job: uid, Version: 4, State: state, At: f.clock.Now().UTC(), Result: res})
	f.agent.Sync(t)
}

func (f *jobsFixture) sweep(t *testing.T) {
	t.Helper()
	if err := f.s.SweepJobs(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// lookForStats lets StatsLookEvery pass and sweeps: the sweep looks for
// hosts due for stats.
func (f *jobsFixture) lookForStats(t *testing.T) {
	t.Helper()
	f.clock.Advance(server.StatsLookEvery)
	f.sweep(t)
}

// TestStatsQueuedDailyStoredAndBounded: the sweep queues one stats job per
// day (and one after a prune), its figures are stored one row per day,
// rows past two years are dropped, and HostStats answers what was stored.
func TestStatsQueuedDailyStoredAndBounded(t *testing.T) {
	f := newJobsFixture(t)
	f.sweep(t) // the first sweep after start does not look yet
	f.lookForStats(t)
	if got := f.pendingStats(t); len(got) != 0 {
		t.Fatalf("stats queued without a ready repository: %v", got)
	}
	f.ready(t)
	f.sweep(t)
	if got := f.pendingStats(t); len(got) != 0 {
		t.Fatalf("stats queued sooner than StatsLookEvery after the last look: %v", got)
	}
	f.lookForStats(t)
	f.lookForStats(t)
	uids := f.pendingStats(t)
	if len(uids) != 1 {
		t.Fatalf("after two sweeps: %d stats jobs queued, want 1", len(uids))
	}
	u := func(n uint64) *uint64 { return &n }
	first := &topics.RepoStats{TotalSize: 1000, UncompressedSize: u(3000), CompressionRatio: 3, Blobs: 5, Snapshots: 1}
	f.finishNow(t, uids[0], topics.JobSucceeded, &topics.JobResult{Stats: first})
	f.lookForStats(t)
	if got := f.pendingStats(t); len(got) != 0 {
		t.Fatalf("a second stats job the same day: %v", got)
	}

	// A prune that ends makes the next sweep measure again.
	prune, err := f.s.CreateJob(t.Context(), f.admin, f.host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobPrune}})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	f.finishNow(t, prune.UID, topics.JobSucceeded, &topics.JobResult{})
	f.lookForStats(t)
	uids = f.pendingStats(t)
	if len(uids) != 1 {
		t.Fatalf("after a prune: %d stats jobs queued, want 1", len(uids))
	}
	second := &topics.RepoStats{TotalSize: 800, Blobs: 4, Snapshots: 1} // an older restic: no uncompressed size
	f.finishNow(t, uids[0], topics.JobSucceeded, &topics.JobResult{Stats: second})

	// The next day, the daily one.
	f.clock.Advance(server.StatsEvery - server.StatsLookEvery)
	f.lookForStats(t)
	uids = f.pendingStats(t)
	if len(uids) != 1 {
		t.Fatalf("a day later: %d stats jobs queued, want 1", len(uids))
	}
	third := &topics.RepoStats{TotalSize: 1200, UncompressedSize: u(3600), Blobs: 6, Snapshots: 2}
	f.finishNow(t, uids[0], topics.JobSucceeded, &topics.JobResult{Stats: third})

	st, err := f.s.HostStats(t.Context(), f.host, 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Repository) != 2 {
		t.Fatalf("repository series %+v, want 2 days (the same day's second run replaces the first)", st.Repository)
	}
	day1, day2 := st.Repository[0], st.Repository[1]
	if day1.TotalSize != 800 || day1.TotalUncompressedSize != nil || day1.Blobs != 4 || day1.Snapshots != 1 {
		t.Errorf("day 1 = %+v, want the run after the prune", day1)
	}
	if day2.TotalSize != 1200 || day2.TotalUncompressedSize == nil || *day2.TotalUncompressedSize != 3600 || day2.Snapshots != 2 {
		t.Errorf("day 2 = %+v", day2)
	}
	if len(st.Strip) != 90 || st.Strip[89].Day != f.clock.Now().UTC().Format(time.DateOnly) {
		t.Errorf("strip of %d days ending %q", len(st.Strip), st.Strip[len(st.Strip)-1].Day)
	}

	// Two years on, the old rows go when a new one is stored.
	f.clock.Advance(server.StatsRetention - server.StatsLookEvery)
	f.lookForStats(t)
	uids = f.pendingStats(t)
	if len(uids) != 1 {
		t.Fatalf("two years later: %d stats jobs queued", len(uids))
	}
	f.finishNow(t, uids[0], topics.JobSucceeded, &topics.JobResult{Stats: first})
	var rows int
	if err := f.s.DB().Get(&rows, `SELECT COUNT(*) FROM repository_stats WHERE host_id = ?`, f.host); err != nil {
		t.Fatal(err)
	}
	if rows != 2 { // day 2 is exactly StatsRetention old: kept; day 1 dropped
		t.Errorf("%d rows after two years, want 2", rows)
	}

	if _, err := f.s.HostStats(t.Context(), f.host, 0); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Errorf("days=0: %v", err)
	}
	if _, err := f.s.HostStats(t.Context(), "h_nope", 90); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Errorf("unknown host: %v", err)
	}
}

// TestHostStatsBackups: every backup that ended is a point with its data
// added, duration and restore size, and counts on its day's strip.
func TestHostStatsBackups(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	ok := f.backup(t)
	f.finishNow(t, ok.UID, topics.JobSucceeded, &topics.JobResult{DurationMS: 2500, SnapshotID: "0123abcd",
		Backup: &topics.BackupSummary{DataAdded: 4096, TotalBytesProcessed: 1 << 20}})
	f.clock.Advance(time.Hour)
	bad := f.backup(t)
	f.finishNow(t, bad.UID, topics.JobFailed, &topics.JobResult{DurationMS: 100, Reason: "the repository is locked"})
	st, err := f.s.HostStats(t.Context(), f.host, 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Backups) != 2 {
		t.Fatalf("backups %+v", st.Backups)
	}
	b0, b1 := st.Backups[0], st.Backups[1]
	if b0.JobID != ok.ID || b0.Status != "succeeded" || b0.DataAdded != 4096 || b0.RestoreSize != 1<<20 || b0.DurationSeconds != 2.5 || b0.SnapshotID != "0123abcd" {
		t.Errorf("succeeded backup %+v", b0)
	}
	if b1.JobID != bad.ID || b1.Status != "failed" || b1.DataAdded != 0 {
		t.Errorf("failed backup %+v", b1)
	}
	today := st.Strip[len(st.Strip)-1]
	if today.Succeeded != 1 || today.Failed != 1 {
		t.Errorf("today's strip %+v", today)
	}
}
