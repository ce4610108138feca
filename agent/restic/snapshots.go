package restic

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Snapshot is one entry of `restic snapshots --json` (and of forget's keep
// and remove lists). Field names follow restic's JSON.
type Snapshot struct {
	ID             string           `json:"id"`
	ShortID        string           `json:"short_id"`
	Time           time.Time        `json:"time"`
	Hostname       string           `json:"hostname"`
	Username       string           `json:"username,omitempty"`
	Paths          []string         `json:"paths"`
	Tags           []string         `json:"tags,omitempty"`
	Parent         string           `json:"parent,omitempty"`
	Tree           string           `json:"tree,omitempty"`
	ProgramVersion string           `json:"program_version,omitempty"` // restic 0.17+
	Summary        *SnapshotSummary `json:"summary,omitempty"`         // restic 0.17+
}

// SnapshotSummary is the statistics restic 0.17+ stores in a snapshot.
type SnapshotSummary struct {
	BackupStart         time.Time `json:"backup_start"`
	BackupEnd           time.Time `json:"backup_end"`
	FilesNew            uint64    `json:"files_new"`
	FilesChanged        uint64    `json:"files_changed"`
	FilesUnmodified     uint64    `json:"files_unmodified"`
	DirsNew             uint64    `json:"dirs_new"`
	DirsChanged         uint64    `json:"dirs_changed"`
	DirsUnmodified      uint64    `json:"dirs_unmodified"`
	DataBlobs           int64     `json:"data_blobs"`
	TreeBlobs           int64     `json:"tree_blobs"`
	DataAdded           uint64    `json:"data_added"`
	DataAddedPacked     uint64    `json:"data_added_packed"`
	TotalFilesProcessed uint64    `json:"total_files_processed"`
	TotalBytesProcessed uint64    `json:"total_bytes_processed"`
}

// ForgetGroup is one group of `restic forget --json`: the snapshots of one
// host/paths(/tags) group that the policy keeps and removes (or, in a dry
// run, would remove), and why each kept one is kept.
type ForgetGroup struct {
	Host    string       `json:"host"`
	Paths   []string     `json:"paths"`
	Tags    []string     `json:"tags,omitempty"`
	Keep    []Snapshot   `json:"keep"`
	Remove  []Snapshot   `json:"remove"`
	Reasons []KeepReason `json:"reasons,omitempty"`
}

// KeepReason says which rules kept a snapshot, e.g. ["last snapshot",
// "daily snapshot"].
type KeepReason struct {
	SnapshotID string   `json:"snapshot_id"`
	Matches    []string `json:"matches"`
}

// ParseSnapshots decodes the output of `restic snapshots --json`: one JSON
// array. Every entry must have a snapshot ID and a time; ShortID is filled
// in when restic left it out, and times are converted to UTC.
func ParseSnapshots(data []byte) ([]Snapshot, error) {
	var snaps []Snapshot
	if err := json.Unmarshal(data, &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots output is not a JSON array of snapshots: %w", err)
	}
	if err := checkSnapshots(snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots output: %w", err)
	}
	if snaps == nil {
		snaps = []Snapshot{}
	}
	return snaps, nil
}

func checkSnapshots(snaps []Snapshot) error {
	for i := range snaps {
		s := &snaps[i]
		if !topics.ValidResticID(s.ID) {
			return fmt.Errorf("entry %d: %q is not a snapshot ID", i, clip(s.ID, 80))
		}
		if s.ShortID == "" {
			s.ShortID = s.ID[:8]
		}
		if len(s.ShortID) > len(s.ID) || s.ID[:len(s.ShortID)] != s.ShortID {
			return fmt.Errorf("entry %d: short ID %q does not match ID %s", i, clip(s.ShortID, 80), s.ID)
		}
		if s.Parent != "" && !topics.ValidResticID(s.Parent) {
			return fmt.Errorf("entry %d: parent %q is not a snapshot ID", i, clip(s.Parent, 80))
		}
		if s.Time.IsZero() {
			return fmt.Errorf("entry %d (%s): no time", i, s.ShortID)
		}
		s.Time = s.Time.UTC()
	}
	return nil
}

// ParseForgetGroups decodes the output of `restic forget --json`: one JSON
// array of groups. Old restic (before 0.17) leaves the ID out of the
// snapshot in a keep reason; it is then found among the kept snapshots by
// time and tree.
func ParseForgetGroups(data []byte) ([]ForgetGroup, error) {
	var raw []struct {
		Host    string     `json:"host"`
		Paths   []string   `json:"paths"`
		Tags    []string   `json:"tags"`
		Keep    []Snapshot `json:"keep"`
		Remove  []Snapshot `json:"remove"`
		Reasons []struct {
			Snapshot struct {
				ID   string    `json:"id"`
				Time time.Time `json:"time"`
				Tree string    `json:"tree"`
			} `json:"snapshot"`
			Matches []string `json:"matches"`
		} `json:"reasons"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("restic forget output is not a JSON array of groups: %w", err)
	}
	groups := make([]ForgetGroup, 0, len(raw))
	for i, r := range raw {
		if err := errors.Join(checkSnapshots(r.Keep), checkSnapshots(r.Remove)); err != nil {
			return nil, fmt.Errorf("restic forget output: group %d: %w", i, err)
		}
		g := ForgetGroup{Host: r.Host, Paths: r.Paths, Tags: r.Tags, Keep: r.Keep, Remove: r.Remove}
		for _, reason := range r.Reasons {
			id := reason.Snapshot.ID
			if id == "" {
				for _, k := range r.Keep {
					if k.Time.Equal(reason.Snapshot.Time) && k.Tree == reason.Snapshot.Tree {
						id = k.ID
						break
					}
				}
			}
			if topics.ValidResticID(id) {
				g.Reasons = append(g.Reasons, KeepReason{SnapshotID: id, Matches: reason.Matches})
			}
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// RemovedIDs lists the IDs of every snapshot the groups remove (or, in a
// dry run, would remove).
func RemovedIDs(groups []ForgetGroup) []string {
	var ids []string
	for _, g := range groups {
		for _, s := range g.Remove {
			ids = append(ids, s.ID)
		}
	}
	return ids
}
