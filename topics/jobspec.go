package topics

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// JobKind names one restic operation a job runs.
type JobKind string

// The job kinds (#3). Each maps to one restic subcommand run by the agent.
const (
	JobInit      JobKind = "init"
	JobBackup    JobKind = "backup"
	JobForget    JobKind = "forget"
	JobPrune     JobKind = "prune"
	JobCheck     JobKind = "check"
	JobUnlock    JobKind = "unlock"
	JobSnapshots JobKind = "snapshots"
	JobRestore   JobKind = "restore"
	// JobStats records the repository's size (restic stats --mode
	// raw-data, #13); it takes no options and changes nothing.
	JobStats JobKind = "stats"
	// JobDrill restores a sample of the latest snapshot into a scratch
	// directory and compares it with the live files (#14, drill.go).
	JobDrill JobKind = "drill"
)

// JobKinds lists every JobKind in a stable order (forms, filters).
func JobKinds() []JobKind {
	return []JobKind{JobBackup, JobForget, JobPrune, JobCheck, JobSnapshots, JobRestore, JobUnlock, JobInit, JobStats, JobDrill}
}

// Valid reports whether k is one of JobKinds.
func (k JobKind) Valid() bool { return slices.Contains(JobKinds(), k) }

// Limits on a JobSpec and a RepositoryConfig: generous for real use, small
// enough that a hostile one cannot build an absurd command line or message.
const (
	MaxSpecList     = 1000    // paths, excludes, includes, tags
	MaxSpecField    = 4096    // one path, pattern, URL or password
	MaxEnvVars      = 64      // backend env entries
	MaxEnvValue     = 8192    // one backend env value
	MaxKeepCount    = 1000000 // one keep-* count
	MaxBandwidthKiB = 1 << 30 // KiB/s
)

// Retention is a forget policy (restic forget --keep-*). At least one rule
// must be set.
type Retention struct {
	Last    int      `json:"last,omitempty"`
	Hourly  int      `json:"hourly,omitempty"`
	Daily   int      `json:"daily,omitempty"`
	Weekly  int      `json:"weekly,omitempty"`
	Monthly int      `json:"monthly,omitempty"`
	Yearly  int      `json:"yearly,omitempty"`
	Within  string   `json:"within,omitempty"` // restic duration, e.g. "7d", "1y2m"
	Tags    []string `json:"tags,omitempty"`   // --keep-tag
}

// Empty reports whether r sets no rule.
func (r Retention) Empty() bool {
	return r.Last == 0 && r.Hourly == 0 && r.Daily == 0 && r.Weekly == 0 &&
		r.Monthly == 0 && r.Yearly == 0 && r.Within == "" && len(r.Tags) == 0
}

// Validate checks the policy: counts in range, a restic duration, tags.
func (r Retention) Validate() error {
	if r.Empty() {
		return errors.New("retention sets no rule: give at least one of last, hourly, daily, weekly, monthly, yearly, within or tags")
	}
	for name, n := range map[string]int{"last": r.Last, "hourly": r.Hourly, "daily": r.Daily,
		"weekly": r.Weekly, "monthly": r.Monthly, "yearly": r.Yearly} {
		if n < 0 || n > MaxKeepCount {
			return fmt.Errorf("retention %s must be between 0 and %d", name, MaxKeepCount)
		}
	}
	if r.Within != "" {
		if err := CheckWithin(r.Within); err != nil {
			return err
		}
	}
	return checkTags("retention tags", r.Tags)
}

// JobSpec is what a job does: its kind and that kind's options. Only the
// options of its kind may be set (Validate refuses others: a wiring mistake
// would otherwise be silently ignored). The repository is not in the spec:
// the agent uses the one of its applied config (Config.Repository).
type JobSpec struct {
	Kind JobKind `json:"kind"`

	// Backup.
	Paths    []string `json:"paths,omitempty"`    // absolute, at least one
	Excludes []string `json:"excludes,omitempty"` // --exclude patterns
	Tags     []string `json:"tags,omitempty"`     // added to the snapshot
	// #4: the source group a backup is of (its ID; the server fills paths,
	// excludes and tags from it, GroupTag included), and its other options.
	SourceGroup   string   `json:"source_group,omitempty"`
	ExcludeFiles  []string `json:"exclude_files,omitempty"` // --exclude-file, absolute
	ExcludeCaches bool     `json:"exclude_caches,omitempty"`
	OneFileSystem bool     `json:"one_file_system,omitempty"`
	// ForgetAfter, on a backup, runs forget with this policy on the
	// group's snapshots (GroupTag) after a successful backup.
	ForgetAfter *Retention `json:"forget_after,omitempty"`

	// Forget.
	Retention *Retention `json:"retention,omitempty"`
	Prune     bool       `json:"prune,omitempty"` // forget --prune
	// DryRun only reports what forget would remove (the retention
	// preview); nothing is removed.
	DryRun bool `json:"dry_run,omitempty"`
	// FilterTags limits forget to snapshots carrying these tags (--tag),
	// e.g. a source group's GroupTag.
	FilterTags []string `json:"filter_tags,omitempty"`

	// Check.
	ReadDataSubset string `json:"read_data_subset,omitempty"` // "n/t", "x%", or a size like "500M" (CheckReadDataSubset)

	// Drill (#14, drill.go): the sample's bounds and source; nil takes
	// the defaults.
	Drill *DrillOptions `json:"drill,omitempty"`

	// Restore.
	Snapshot string   `json:"snapshot,omitempty"` // snapshot id (8-64 hex) or "latest"
	Include  []string `json:"include,omitempty"`  // --include patterns
	Target   string   `json:"target,omitempty"`   // absolute directory on the host; it must exist there
	// #14 (jobspec_restore.go): how existing files are treated, restic's
	// --verify, and the host whose repository a cross-host restore reads.
	Overwrite  OverwritePolicy `json:"overwrite,omitempty"`
	Verify     bool            `json:"verify,omitempty"`
	SourceHost string          `json:"source_host,omitempty"`

	// Any kind that talks to the repository: caps in KiB/s, 0 = none.
	BandwidthUpKBps   int `json:"bandwidth_up_kbps,omitempty"`
	BandwidthDownKBps int `json:"bandwidth_down_kbps,omitempty"`
}

var (
	snapshotRefRE = regexp.MustCompile(`^([0-9a-f]{8,64}|latest)$`)
)

// Validate checks the spec and says in one sentence what is wrong. It
// cannot check what only the host knows (that a restore target exists);
// the agent checks that and fails the job with a clear reason.
func (s *JobSpec) Validate() error {
	if !s.Kind.Valid() {
		return fmt.Errorf("unknown job kind %q: use one of %s", clip(string(s.Kind)), joinKinds())
	}
	if s.BandwidthUpKBps < 0 || s.BandwidthUpKBps > MaxBandwidthKiB || s.BandwidthDownKBps < 0 || s.BandwidthDownKBps > MaxBandwidthKiB {
		return fmt.Errorf("bandwidth limits must be between 0 (none) and %d KiB/s", MaxBandwidthKiB)
	}
	isBackup, isForget, isCheck, isRestore := s.Kind == JobBackup, s.Kind == JobForget, s.Kind == JobCheck, s.Kind == JobRestore
	switch {
	case !isBackup && (len(s.Paths) > 0 || len(s.Excludes) > 0 || len(s.Tags) > 0 || s.SourceGroup != "" ||
		len(s.ExcludeFiles) > 0 || s.ExcludeCaches || s.OneFileSystem || s.ForgetAfter != nil):
		return fmt.Errorf("paths, excludes, tags and source groups belong to a backup job, not %s", s.Kind)
	case !isForget && (s.Retention != nil || s.Prune || s.DryRun || len(s.FilterTags) > 0):
		return fmt.Errorf("retention, prune, dry run and tag filters belong to a forget job, not %s", s.Kind)
	case s.Kind != JobDrill && s.Drill != nil:
		return fmt.Errorf("drill options belong to a drill job, not %s", s.Kind)
	case !isCheck && s.ReadDataSubset != "":
		return fmt.Errorf("read_data_subset belongs to a check job, not %s", s.Kind)
	case !isRestore && (s.Snapshot != "" || len(s.Include) > 0 || s.Target != "" || s.Overwrite != "" || s.Verify || s.SourceHost != ""):
		return fmt.Errorf("snapshot, include, target, overwrite, verify and source host belong to a restore job, not %s", s.Kind)
	}
	switch s.Kind {
	case JobBackup:
		if len(s.Paths) == 0 {
			return errors.New("a backup needs at least one path to back up")
		}
		if err := checkList("path", s.Paths, true); err != nil {
			return err
		}
		if err := checkList("exclude", s.Excludes, false); err != nil {
			return err
		}
		if err := checkList("exclude file", s.ExcludeFiles, true); err != nil {
			return err
		}
		if s.SourceGroup != "" && !ValidGroupID(s.SourceGroup) {
			return fmt.Errorf("invalid source group id %q", clip(s.SourceGroup))
		}
		if s.ForgetAfter != nil {
			if s.SourceGroup == "" {
				return errors.New("forget after backup needs a source group")
			}
			if err := s.ForgetAfter.Validate(); err != nil {
				return err
			}
		}
		return checkTags("tags", s.Tags)
	case JobForget:
		if s.Retention == nil {
			return errors.New("a forget job needs a retention policy")
		}
		if s.DryRun && s.Prune {
			return errors.New("a dry run cannot prune")
		}
		if err := checkTags("filter tags", s.FilterTags); err != nil {
			return err
		}
		return s.Retention.Validate()
	case JobCheck:
		return CheckReadDataSubset(s.ReadDataSubset)
	case JobDrill:
		return s.Drill.Validate()
	case JobRestore:
		if !snapshotRefRE.MatchString(s.Snapshot) {
			return fmt.Errorf("restore needs a snapshot: a snapshot id (8 to 64 hex digits) or \"latest\", not %q", clip(s.Snapshot))
		}
		if s.Target == "" {
			return errors.New("restore needs a target directory")
		}
		if !IsAbsPath(s.Target) {
			return fmt.Errorf("restore target %q must be an absolute path", clip(s.Target))
		}
		if err := checkField1("target", s.Target); err != nil {
			return err
		}
		if err := checkList("include", s.Include, false); err != nil {
			return err
		}
		return s.validateRestore()
	}
	return nil
}

func joinKinds() string {
	var names []string
	for _, k := range JobKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// IsAbsPath reports whether p is absolute on Unix (/x) or Windows (C:\x,
// C:/x, \\server\share). The server cannot know the host's OS when it
// validates, so it accepts both; the agent checks again for its own OS.
func IsAbsPath(p string) bool {
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && isLetter(p[0]) && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func checkList(what string, items []string, absolute bool) error {
	if len(items) > MaxSpecList {
		return fmt.Errorf("too many %ss (%d; at most %d)", what, len(items), MaxSpecList)
	}
	for _, it := range items {
		if err := checkField1(what, it); err != nil {
			return err
		}
		if absolute && !IsAbsPath(it) {
			return fmt.Errorf("%s %q must be an absolute path", what, clip(it))
		}
	}
	return nil
}

func checkField1(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("empty %s", what)
	case len(v) > MaxSpecField:
		return fmt.Errorf("%s longer than %d bytes", what, MaxSpecField)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%s %q contains control characters", what, clip(v))
	}
	return nil
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$`)

func checkTags(what string, tags []string) error {
	if len(tags) > MaxSpecList {
		return fmt.Errorf("too many %s", what)
	}
	for _, t := range tags {
		if !tagRE.MatchString(t) {
			return fmt.Errorf("%s: %q is not a tag (letters, digits and _.:@+- up to 128 characters, no comma)", what, clip(t))
		}
	}
	return nil
}
