package restic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/restic-manager/restic-manager/topics"
)

// statsMsg is what `restic stats --mode raw-data --json` prints: one JSON
// object, without a message_type in the versions we know (a "stats" type
// is accepted too). restic 0.14+ adds total_uncompressed_size,
// compression_ratio, compression_progress and compression_space_saving
// on a repository that compresses; every version leaves out the counters
// that are zero (an empty repository prints total_size and
// snapshots_count only). total_size is the one field always present.
type statsMsg struct {
	Type             string  `json:"message_type"`
	TotalSize        *uint64 `json:"total_size"`
	UncompressedSize *uint64 `json:"total_uncompressed_size"`
	CompressionRatio float64 `json:"compression_ratio"`
	Blobs            uint64  `json:"total_blob_count"`
	Snapshots        uint64  `json:"snapshots_count"`
}

// ParseStats decodes the line `restic stats --mode raw-data --json`
// prints. It refuses anything that is not such an object: another
// message, a missing total_size, a count that does not fit, a ratio that
// is not a number.
func ParseStats(line []byte) (*topics.RepoStats, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, errors.New("restic stats: not a JSON object")
	}
	var m statsMsg
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("restic stats: %w", err)
	}
	if m.Type != "" && m.Type != "stats" {
		return nil, fmt.Errorf("restic stats: a %q message, not stats", m.Type)
	}
	if m.TotalSize == nil {
		return nil, errors.New("restic stats: no total_size")
	}
	s := &topics.RepoStats{TotalSize: *m.TotalSize, UncompressedSize: m.UncompressedSize,
		CompressionRatio: m.CompressionRatio, Blobs: m.Blobs, Snapshots: m.Snapshots}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("restic stats: %w", err)
	}
	return s, nil
}
