package topics

import (
	"math"
	"strings"
	"testing"
)

func TestStatsSpecTakesNoOptions(t *testing.T) {
	ok := JobSpec{Kind: JobStats}
	if err := ok.Validate(); err != nil {
		t.Fatalf("stats spec refused: %v", err)
	}
	for _, s := range []JobSpec{
		{Kind: JobStats, Paths: []string{"/etc"}},
		{Kind: JobStats, Retention: &Retention{Last: 1}},
		{Kind: JobStats, ReadDataSubset: "1/5"},
		{Kind: JobStats, Snapshot: "latest"},
	} {
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "not stats") {
			t.Errorf("%+v: err = %v, want a refusal naming stats", s, err)
		}
	}
}

func TestRepoStatsValidate(t *testing.T) {
	big := uint64(math.MaxInt64) + 1
	fine := uint64(10)
	for _, tc := range []struct {
		s  RepoStats
		ok bool
	}{
		{RepoStats{TotalSize: 1, UncompressedSize: &fine, CompressionRatio: 1.5, Blobs: 3, Snapshots: 1}, true},
		{RepoStats{TotalSize: 1}, true}, // restic < 0.14: no uncompressed size, no ratio
		{RepoStats{TotalSize: big}, false},
		{RepoStats{UncompressedSize: &big}, false},
		{RepoStats{Blobs: big}, false},
		{RepoStats{CompressionRatio: math.NaN()}, false},
		{RepoStats{CompressionRatio: math.Inf(1)}, false},
		{RepoStats{CompressionRatio: -1}, false},
	} {
		r := JobResult{Stats: &tc.s}
		if err := r.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: err = %v, want ok %v", tc.s, err, tc.ok)
		}
	}
}
