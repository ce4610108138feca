package server_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestSnapshotReportWritesOnlyWhatChanged: a report after a backup names
// the host's whole list, one snapshot of it new. The rows that did not
// change are not written (a row the test altered behind the writer's back
// keeps the alteration), the new one is inserted, the vanished one deleted
// and the changed one updated; a snapshot listed twice is kept as first
// listed.
func TestSnapshotReportWritesOnlyWhatChanged(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	a := f.agent
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	snap := func(i int) topics.SnapshotInfo {
		return topics.SnapshotInfo{ID: fmt.Sprintf("%064x", i), Time: t0.Add(time.Duration(i) * time.Hour), Hostname: "web-1",
			Username: "root", Paths: []string{"/etc"}, Tags: []string{}}
	}
	var list []topics.SnapshotInfo
	for i := range 50 {
		list = append(list, snap(i))
	}
	a.Snapshots(t, "rep-a", 1, 1, t0.Add(100*time.Hour), list...)
	a.Sync(t)
	if got, err := f.s.Snapshots(ctx, f.host); err != nil || len(got.Snapshots) != 50 {
		t.Fatalf("first report: %v %v", got, err)
	}
	// Behind the writer's back: the stored time of a snapshot the next
	// report lists unchanged (the time column is the info's time, so the
	// writer has no reason to touch it).
	marker := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	untouched := snap(20).ID
	if _, err := f.s.DB().ExecContext(ctx, `UPDATE snapshots SET time = ? WHERE host_id = ? AND id = ?`, marker, f.host, untouched); err != nil {
		t.Fatal(err)
	}

	// The next report: snapshot 0 forgotten, 10 tagged, 50 new; 30 listed
	// twice, the second time with another tag.
	next := slices.Clone(list[1:])
	next[9].Tags = []string{"keep"} // snapshot 10
	dup := snap(30)
	dup.Tags = []string{"second"}
	next = append(next, snap(50), dup)
	a.Snapshots(t, "rep-b", 1, 1, t0.Add(101*time.Hour), next...)
	a.Sync(t)

	got, err := f.s.Snapshots(ctx, f.host)
	if err != nil || len(got.Snapshots) != 50 {
		t.Fatalf("second report: %d snapshots, %v", len(got.Snapshots), err)
	}
	byID := map[string]server.Snapshot{}
	for _, sn := range got.Snapshots {
		byID[sn.ID] = sn
	}
	if _, ok := byID[snap(0).ID]; ok {
		t.Fatal("the forgotten snapshot is still listed")
	}
	if sn, ok := byID[snap(50).ID]; !ok || !sn.Time.Equal(snap(50).Time) {
		t.Fatalf("the new snapshot: %+v %v", sn, ok)
	}
	if sn := byID[snap(10).ID]; !slices.Equal(sn.Tags, []string{"keep"}) {
		t.Fatalf("the changed snapshot's tags: %v", sn.Tags)
	}
	if sn := byID[snap(30).ID]; len(sn.Tags) != 0 {
		t.Fatalf("a snapshot listed twice: tags %v, want the first listing's", sn.Tags)
	}
	var times []time.Time
	if err := f.s.DB().SelectContext(ctx, &times, `SELECT time FROM snapshots WHERE host_id = ? AND id = ?`, f.host, untouched); err != nil || len(times) != 1 {
		t.Fatalf("the unchanged row: %v %v", times, err)
	}
	if !times[0].Equal(marker) {
		t.Fatalf("an unchanged snapshot's row was written again (time %v, the test had set %v)", times[0], marker)
	}
	if err := f.s.DB().SelectContext(ctx, &times, `SELECT time FROM snapshots WHERE host_id = ? AND id = ?`, f.host, snap(10).ID); err != nil || len(times) != 1 || !times[0].Equal(snap(10).Time) {
		t.Fatalf("the changed row's time: %v %v", times, err)
	}
}

// TestSnapshotReportLongListsReplaced: a list longer than one statement's
// rows (multi-part reports of 1,100 and then 1,050 other snapshots) is
// replaced in whole.
func TestSnapshotReportLongListsReplaced(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	a := f.agent
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	report := func(name string, taken time.Time, from, n int) {
		var list []topics.SnapshotInfo
		for i := from; i < from+n; i++ {
			list = append(list, topics.SnapshotInfo{ID: fmt.Sprintf("%064x", i), Time: t0.Add(time.Duration(i) * time.Minute),
				Hostname: "web-1", Paths: []string{"/srv"}})
		}
		parts := (n + topics.MaxSnapshotsPerPart - 1) / topics.MaxSnapshotsPerPart
		for p := range parts {
			a.Snapshots(t, name, p+1, parts, taken, list[p*topics.MaxSnapshotsPerPart:min(n, (p+1)*topics.MaxSnapshotsPerPart)]...)
		}
		a.Sync(t)
	}
	report("rep-a", t0.Add(time.Hour), 0, 1100)
	report("rep-b", t0.Add(2*time.Hour), 5000, 1050)
	got, err := f.s.Snapshots(ctx, f.host)
	if err != nil || len(got.Snapshots) != 1050 {
		t.Fatalf("after the second list: %d snapshots, %v", len(got.Snapshots), err)
	}
	for _, sn := range got.Snapshots {
		var i int
		if _, err := fmt.Sscanf(sn.ID, "%x", &i); err != nil || i < 5000 || i >= 6050 {
			t.Fatalf("snapshot %s is not of the second list", sn.ID)
		}
	}
}
