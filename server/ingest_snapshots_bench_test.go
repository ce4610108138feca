package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkSnapshotReport is the writer's cost of the snapshot report an
// agent sends after every backup: the host's list of 50 snapshots, of which
// one is new and the oldest gone (a list kept at 50), stored in a
// transaction of its own: ns/op is how long a report holds the writer (its
// statements and the commit).
func BenchmarkSnapshotReport(b *testing.B) {
	const listed = 50
	s := servertest.MustOpenService(b, server.Options{})
	host := enrollTestHost(b, s, "bench-1")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := func(i int) topics.SnapshotInfo {
		return topics.SnapshotInfo{ID: fmt.Sprintf("%064x", i), Time: t0.Add(time.Duration(i) * time.Hour), Hostname: "bench-1",
			Username: "root", Paths: []string{"/srv/bench", "/etc"}, Tags: []string{"daily"}, DataAdded: 1 << 20,
			TotalFilesProcessed: 12_345, TotalBytesProcessed: 1 << 30}
	}
	var list []topics.SnapshotInfo
	for i := range listed {
		list = append(list, snap(i))
	}
	n := listed
	report := func() *topics.SnapshotReport {
		return &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, host), Seq: uint64(n),
			Report: topics.NewMessageID(), Part: 1, Parts: 1, TakenAt: t0.Add(time.Duration(n) * time.Hour), Snapshots: list}
	}
	if err := s.StoreSnapshotReport(b.Context(), host, report()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		list = append(list[1:], snap(n))
		n++
		if err := s.StoreSnapshotReport(b.Context(), host, report()); err != nil {
			b.Fatal(err)
		}
	}
}
