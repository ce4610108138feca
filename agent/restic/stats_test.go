package restic

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

func TestParseStats(t *testing.T) {
	t.Parallel()
	captured, err := os.ReadFile(filepath.Join("testdata", "restic-0.18.1", "stats.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := os.ReadFile(filepath.Join("testdata", "restic-0.18.1", "stats-empty.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	u := func(n uint64) *uint64 { return &n }
	for _, tc := range []struct {
		name string
		line string
		want *topics.RepoStats // nil: refused
	}{
		{"restic 0.18.1, one snapshot", string(captured),
			&topics.RepoStats{TotalSize: 300553, UncompressedSize: u(300805), CompressionRatio: 1.0008384544489657, Blobs: 3, Snapshots: 1}},
		{"restic 0.18.1, empty repository", string(empty), &topics.RepoStats{}},
		// restic before 0.14 (and a format 1 repository): no compression fields.
		{"restic 0.13 shape", `{"total_size":4096,"total_blob_count":7,"snapshots_count":2}`,
			&topics.RepoStats{TotalSize: 4096, Blobs: 7, Snapshots: 2}},
		{"typed stats message", `{"message_type":"stats","total_size":1,"snapshots_count":1}`,
			&topics.RepoStats{TotalSize: 1, Snapshots: 1}},
		{"unknown fields ignored", `{"total_size":5,"total_file_count":9,"compression_progress":100}`,
			&topics.RepoStats{TotalSize: 5}},
		{"no total_size", `{"snapshots_count":3}`, nil},
		{"another message", `{"message_type":"summary","total_size":3}`, nil},
		{"negative size", `{"total_size":-1}`, nil},
		{"size beyond int64", `{"total_size":9223372036854775808}`, nil},
		{"negative ratio", `{"total_size":1,"compression_ratio":-2}`, nil},
		{"not an object", `[{"total_size":1}]`, nil},
		{"text", `scanning...`, nil},
		{"empty", ``, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStats([]byte(tc.line))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

// TestReplayStats: the captured output of a stats run goes into Result
// through the session, and nothing of it into the log as raw JSON.
func TestReplayStats(t *testing.T) {
	t.Parallel()
	res, lines := replay(t, "restic-0.18.1", "stats", topics.JobStats)
	if res.Outcome != OutcomeSucceeded || res.Stats == nil || res.Stats.TotalSize != 300553 || res.Stats.Snapshots != 1 {
		t.Fatalf("stats: %+v stats %+v", res, res.Stats)
	}
	if bytes.Contains([]byte(lines.String()), []byte("total_size")) {
		t.Errorf("raw stats JSON in the log: %s", lines)
	}
}

func FuzzParseStats(f *testing.F) {
	for _, data := range capturedFiles(f, ".stdout") {
		for line := range bytes.Lines(data) {
			f.Add(bytes.TrimSuffix(line, []byte("\n")))
		}
	}
	f.Add([]byte(`{"total_size":1,"total_uncompressed_size":18446744073709551615}`))
	f.Add([]byte(`{"total_size":1,"compression_ratio":1e999}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		s, err := ParseStats(line)
		if err != nil {
			return
		}
		if s.Validate() != nil || s.TotalSize > math.MaxInt64 || math.IsNaN(s.CompressionRatio) {
			t.Fatalf("accepted unfit stats %+v from %q", s, line)
		}
		// What is accepted survives the wire: the result it goes into
		// validates and round-trips.
		r := topics.JobResult{Stats: s}
		if err := r.Validate(); err != nil {
			t.Fatalf("result with accepted stats refused: %v", err)
		}
		var back topics.RepoStats
		if err := json.Unmarshal([]byte(mustJSON(t, s)), &back); err != nil || mustJSON(t, &back) != mustJSON(t, s) {
			t.Fatalf("round trip: %v %+v vs %+v", err, back, s)
		}
	})
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunStats runs `restic stats` on a real repository, before and after
// a backup: the figures are restic's and grow with the data.
func TestRunStats(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t)
	repo := initRepo(t, r)
	before := mustRun(t, r, Op{Kind: topics.JobStats, Repository: repo})
	if before.Outcome != OutcomeSucceeded || before.Stats == nil || before.Stats.Snapshots != 0 {
		t.Fatalf("empty repository: %+v stats %+v", before, before.Stats)
	}
	if want := []string{"stats", "--json", "--mode=raw-data"}; !slices.Equal(before.Args, want) {
		t.Errorf("args %q, want %q", before.Args, want)
	}
	src := t.TempDir()
	genTree(t, src, 20, 64<<10)
	if res := mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{src}}}); res.Outcome != OutcomeSucceeded {
		t.Fatalf("backup: %+v", res)
	}
	after := mustRun(t, r, Op{Kind: topics.JobStats, Repository: repo})
	s := after.Stats
	if after.Outcome != OutcomeSucceeded || s == nil || s.Snapshots != 1 || s.Blobs == 0 || s.TotalSize <= before.Stats.TotalSize {
		t.Fatalf("after a backup: %+v stats %+v (before %+v)", after, s, before.Stats)
	}
	if s.UncompressedSize == nil || *s.UncompressedSize < s.TotalSize/2 || s.CompressionRatio <= 0 {
		t.Errorf("restic 0.18 compresses: stats %+v", s)
	}
}
