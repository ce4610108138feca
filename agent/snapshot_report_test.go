package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

func testSnapshot(i int, paths ...string) restic.Snapshot {
	id := fmt.Sprintf("%064x", i+1)
	return restic.Snapshot{ID: id, ShortID: id[:8], Time: time.Date(2026, 1, 1, 0, i%60, 0, 0, time.UTC), Hostname: "till", Paths: paths}
}

func infosOf(t *testing.T, snaps []restic.Snapshot) []topics.SnapshotInfo {
	t.Helper()
	var out []topics.SnapshotInfo
	for _, s := range snaps {
		info, ok := snapshotInfo(s)
		if !ok {
			t.Fatalf("snapshot %s refused", s.ID)
		}
		out = append(out, info)
	}
	return out
}

// checkParts encodes every part as the agent sends it and checks the
// wire's limits.
func checkParts(t *testing.T, parts [][]topics.SnapshotInfo) int {
	t.Helper()
	total := 0
	for i, p := range parts {
		msg := &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, "h_test0000000000000000000000"), Seq: 1,
			Report: "r-1", Part: i + 1, Parts: len(parts), TakenAt: time.Now(), Snapshots: p}
		data, err := topics.Encode(msg)
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		if len(data) > 200<<10 {
			t.Fatalf("part %d is %d bytes", i+1, len(data))
		}
		total += len(p)
	}
	return total
}

func TestSplitSnapshotsByCountAndSize(t *testing.T) {
	var many []restic.Snapshot
	for i := range 450 {
		many = append(many, testSnapshot(i, "/home", "/etc"))
	}
	parts := splitSnapshots(infosOf(t, many), topics.MaxSnapshotsPerPart, maxSnapshotPartBytes)
	if len(parts) != 3 || len(parts[0]) != 200 || len(parts[2]) != 50 || checkParts(t, parts) != 450 {
		t.Fatalf("450 small snapshots: parts of %d, %d, ...", len(parts[0]), len(parts[1]))
	}
	if parts[1][0].ID != many[200].ID {
		t.Fatal("order not kept")
	}

	// Long paths: the byte budget splits first.
	long := strings.Repeat("p", 4000)
	var big []restic.Snapshot
	for i := range 60 {
		big = append(big, testSnapshot(i, "/"+long, "/x"+long))
	}
	parts = splitSnapshots(infosOf(t, big), topics.MaxSnapshotsPerPart, maxSnapshotPartBytes)
	if len(parts) < 2 || checkParts(t, parts) != 60 {
		t.Fatalf("60 snapshots of 8 KB: %d parts", len(parts))
	}

	// One snapshot larger than a part keeps what fits.
	var paths []string
	for i := range 1000 {
		paths = append(paths, fmt.Sprintf("/%d/%s", i, long))
	}
	parts = splitSnapshots(infosOf(t, []restic.Snapshot{testSnapshot(1, paths...)}), topics.MaxSnapshotsPerPart, maxSnapshotPartBytes)
	if len(parts) != 1 || len(parts[0]) != 1 || len(parts[0][0].Paths) == 0 || len(parts[0][0].Paths) == 1000 {
		t.Fatalf("oversized snapshot: %d parts", len(parts))
	}
	checkParts(t, parts)

	// No snapshots: one empty part, which still says "none".
	parts = splitSnapshots(nil, topics.MaxSnapshotsPerPart, maxSnapshotPartBytes)
	if len(parts) != 1 || len(parts[0]) != 0 || checkParts(t, parts) != 0 {
		t.Fatalf("empty list: %v", parts)
	}
	data, _ := json.Marshal(parts[0])
	if string(data) != "[]" {
		t.Fatalf("empty part encodes as %s", data)
	}
}

func TestSnapshotInfo(t *testing.T) {
	s := testSnapshot(3, "/a\xffb")
	s.Parent, s.Tags = "zz", []string{"daily"}
	s.Summary = &restic.SnapshotSummary{DataAdded: 5, TotalFilesProcessed: 6, TotalBytesProcessed: 7}
	info, ok := snapshotInfo(s)
	if !ok || info.Paths[0] != "/a\uFFFDb" || info.Parent != "" || info.DataAdded != 5 || info.TotalFilesProcessed != 6 {
		t.Fatalf("info %+v", info)
	}
	if _, ok := snapshotInfo(restic.Snapshot{ID: "abcdef12", Time: time.Now()}); ok {
		t.Fatal("a short id was accepted (restic 0.14 lists full ids; the wire needs them)")
	}
	// restic 0.14 has no summary and may list no paths.
	old := testSnapshot(4)
	if info, ok := snapshotInfo(old); !ok || info.Paths == nil || info.DataAdded != 0 {
		t.Fatalf("old snapshot %+v", info)
	}
}
