package topics

import (
	"errors"
	"math"
)

// RepoStats is what `restic stats --mode raw-data --json` says about a
// repository (#13), as a stats job's result carries it. restic before
// 0.14 (repository format 1, no compression) reports neither the
// uncompressed size nor the ratio: UncompressedSize is then nil and
// CompressionRatio 0.
type RepoStats struct {
	TotalSize        uint64  `json:"total_size"`
	UncompressedSize *uint64 `json:"total_uncompressed_size,omitempty"`
	CompressionRatio float64 `json:"compression_ratio,omitempty"`
	Blobs            uint64  `json:"total_blob_count"`
	Snapshots        uint64  `json:"snapshots_count"`
}

// MaxStatsValue bounds every count and size of RepoStats (SQLite stores
// signed 64-bit integers).
const MaxStatsValue = math.MaxInt64

// Validate checks the figures fit the store and the ratio is a number.
func (s *RepoStats) Validate() error {
	if s.TotalSize > MaxStatsValue || s.Blobs > MaxStatsValue || s.Snapshots > MaxStatsValue ||
		s.UncompressedSize != nil && *s.UncompressedSize > MaxStatsValue {
		return errors.New("repository stats out of range")
	}
	if math.IsNaN(s.CompressionRatio) || math.IsInf(s.CompressionRatio, 0) || s.CompressionRatio < 0 {
		return errors.New("repository stats with an invalid compression ratio")
	}
	return nil
}
