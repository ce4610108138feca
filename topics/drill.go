package topics

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Restore drills (#14): the agent restores a random sample of files from
// the latest snapshot into a scratch directory, compares each with the
// live file where that is unchanged since the snapshot, and deletes the
// scratch. A drill is a job (kind JobDrill) and a schedule kind.

// Bounds on a drill's sample. The file count also bounds restic's command
// line (one --include per file).
const (
	DefaultDrillFiles = 20
	MaxDrillFiles     = 100
	DefaultDrillMaxMB = 100
	MaxDrillMaxMB     = 10240 // 10 GiB
	// MaxDrillPaths bounds DrillResult.MismatchedPaths.
	MaxDrillPaths = 20
)

// DrillOptions are a drill's sample bounds and the snapshots it draws
// from. Zero fields take the defaults (Files and MaxMB).
type DrillOptions struct {
	// Files is how many files, at most, are sampled (1..MaxDrillFiles).
	Files int `json:"files,omitempty"`
	// MaxMB bounds the sample's total size in MiB (1..MaxDrillMaxMB).
	MaxMB int `json:"max_mb,omitempty"`
	// SourceGroup, if set, draws from the latest snapshot of that group
	// (its GroupTag) instead of the host's latest snapshot.
	SourceGroup string `json:"source_group,omitempty"`
}

// SampleFiles is Files, or the default when it is not set.
func (o *DrillOptions) SampleFiles() int {
	if o == nil || o.Files == 0 {
		return DefaultDrillFiles
	}
	return o.Files
}

// SampleBytes is MaxMB in bytes, or the default when it is not set.
func (o *DrillOptions) SampleBytes() int64 {
	mb := DefaultDrillMaxMB
	if o != nil && o.MaxMB != 0 {
		mb = o.MaxMB
	}
	return int64(mb) << 20
}

// Group is SourceGroup (empty when o is nil).
func (o *DrillOptions) Group() string {
	if o == nil {
		return ""
	}
	return o.SourceGroup
}

// Validate checks the bounds and the group id.
func (o *DrillOptions) Validate() error {
	if o == nil {
		return nil
	}
	if o.Files < 0 || o.Files > MaxDrillFiles {
		return fmt.Errorf("a drill samples between 1 and %d files (0 means %d)", MaxDrillFiles, DefaultDrillFiles)
	}
	if o.MaxMB < 0 || o.MaxMB > MaxDrillMaxMB {
		return fmt.Errorf("a drill restores between 1 and %d MB (0 means %d)", MaxDrillMaxMB, DefaultDrillMaxMB)
	}
	if o.SourceGroup != "" && !ValidGroupID(o.SourceGroup) {
		return fmt.Errorf("invalid source group id %q", clip(o.SourceGroup))
	}
	return nil
}

// DrillResult is what a drill found, in its job's result.
type DrillResult struct {
	// Snapshot is the full id of the snapshot the sample came from.
	Snapshot string `json:"snapshot"`
	// Sampled files were restored; Compared of them were unchanged on the
	// host since the snapshot and hashed, and Matched or Mismatched.
	// Skipped ones had changed (size or mtime) or were gone.
	Sampled    int `json:"sampled"`
	Compared   int `json:"compared"`
	Matched    int `json:"matched"`
	Mismatched int `json:"mismatched"`
	Skipped    int `json:"skipped"`
	// MismatchedPaths are the first MaxDrillPaths files that differ or
	// could not be restored.
	MismatchedPaths []string `json:"mismatched_paths,omitempty"`
	BytesRestored   uint64   `json:"bytes_restored"`
}

// Validate checks the counts and paths.
func (r *DrillResult) Validate() error {
	if r.Snapshot != "" && !ValidResticID(r.Snapshot) {
		return fmt.Errorf("invalid drill snapshot id %q", clip(r.Snapshot))
	}
	if r.Sampled < 0 || r.Compared < 0 || r.Matched < 0 || r.Mismatched < 0 || r.Skipped < 0 {
		return errors.New("negative count in drill result")
	}
	if r.Compared > r.Sampled || r.Matched+r.Mismatched > r.Sampled || r.Sampled > MaxDrillFiles {
		return errors.New("drill result counts do not add up")
	}
	if len(r.MismatchedPaths) > MaxDrillPaths {
		return fmt.Errorf("drill result names %d paths; at most %d", len(r.MismatchedPaths), MaxDrillPaths)
	}
	for _, p := range r.MismatchedPaths {
		if p == "" || len(p) > MaxSpecField || !utf8.ValidString(p) {
			return errors.New("drill result path empty, longer than 4096 bytes or not UTF-8")
		}
	}
	return nil
}
