package topics

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Source groups, schedules, retention and bandwidth (#4). They travel in
// the versioned down/config, and the agent's own scheduler runs them from
// the last config it received, whether or not the server is reachable.

// SourceGroup is a named set of paths a host backs up together, with its
// excludes, tags and retention policy.
type SourceGroup struct {
	// ID is stable across renames (the server's id, e.g. "sg_12").
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Paths         []string `json:"paths"`
	Excludes      []string `json:"excludes,omitempty"`      // --exclude patterns
	ExcludeFiles  []string `json:"exclude_files,omitempty"` // --exclude-file, absolute paths on the host
	ExcludeCaches bool     `json:"exclude_caches,omitempty"`
	OneFileSystem bool     `json:"one_file_system,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	// Retention, if set, is the group's forget policy. Forget applies it
	// to the snapshots carrying the group's tag (GroupTag).
	Retention *Retention `json:"retention,omitempty"`
	// ForgetAfterBackup runs forget with Retention after each successful
	// backup of the group (in the same job, after the backup).
	ForgetAfterBackup bool `json:"forget_after_backup,omitempty"`
	// Hooks (#10) run before and after each backup of the group; where
	// the group has none, the host's defaults (Config.HostHooks) apply.
	Hooks
}

// GroupTag is the tag every backup of a source group carries, so forget
// can apply the group's retention to the group's snapshots only.
func GroupTag(groupID string) string { return "rm-group:" + groupID }

var (
	groupIDRE   = regexp.MustCompile(`^sg_[0-9]{1,18}$`)
	groupNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$`)
	scheduleRE  = regexp.MustCompile(`^sch_[0-9]{1,18}$`)
)

// ValidGroupID reports whether s is a source group id (sg_<n>).
func ValidGroupID(s string) bool { return groupIDRE.MatchString(s) }

// ValidScheduleID reports whether s is a schedule id (sch_<n>).
func ValidScheduleID(s string) bool { return scheduleRE.MatchString(s) }

// ValidateGroupName checks a source group's name: 1-63 letters, digits,
// space, '.', '_' or '-', starting with a letter or digit.
func ValidateGroupName(name string) error {
	if !groupNameRE.MatchString(name) {
		return fmt.Errorf("source group names are 1-63 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit (got %q)", clip(name))
	}
	return nil
}

// Validate checks a source group: a name, at least one absolute path,
// excludes, exclude files, tags and retention.
func (g *SourceGroup) Validate() error {
	if !ValidGroupID(g.ID) {
		return fmt.Errorf("invalid source group id %q", clip(g.ID))
	}
	if err := ValidateGroupName(g.Name); err != nil {
		return err
	}
	if len(g.Paths) == 0 {
		return fmt.Errorf("source group %s has no paths: give at least one absolute path", g.Name)
	}
	if err := checkList("path", g.Paths, true); err != nil {
		return err
	}
	if err := checkList("exclude", g.Excludes, false); err != nil {
		return err
	}
	if err := checkList("exclude file", g.ExcludeFiles, true); err != nil {
		return err
	}
	if err := checkTags("tags", g.Tags); err != nil {
		return err
	}
	if g.Retention != nil {
		if err := g.Retention.Validate(); err != nil {
			return err
		}
	}
	if g.ForgetAfterBackup && g.Retention == nil {
		return fmt.Errorf("source group %s: forget after backup needs a retention policy", g.Name)
	}
	return g.Hooks.Validate()
}

// CronParser is the one cron dialect of the product, used by the server
// (validation, next run for display) and the agent (running): five fields
// (minute hour day-of-month month day-of-week) or a descriptor such as
// @hourly, @daily, @weekly.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule says when the agent runs a job by itself: a backup of a source
// group, or a host-wide forget (every group's retention), prune or check,
// or a restore drill (#14).
type Schedule struct {
	// ID is stable (the server's id, e.g. "sch_7").
	ID   string  `json:"id"`
	Kind JobKind `json:"kind"` // backup, forget, prune, check or drill
	// SourceGroup is the group a backup schedule backs up (its ID).
	SourceGroup string `json:"source_group,omitempty"`
	// Cron is when, read in TimeZone (see CronParser).
	Cron string `json:"cron"`
	// TimeZone is an IANA zone name, e.g. "Europe/Berlin"; "" means UTC.
	TimeZone string `json:"time_zone,omitempty"`
	Paused   bool   `json:"paused,omitempty"`
	// CatchUp: a run missed while the agent was not running runs once at
	// its next start (one run, however many were missed).
	CatchUp bool `json:"catch_up"`
	// JitterSeconds delays each run by a random 0..JitterSeconds so the
	// machines of a site do not all start at once.
	JitterSeconds int `json:"jitter_seconds,omitempty"`
	// ReadDataSubset is for check schedules (see JobSpec).
	ReadDataSubset string `json:"read_data_subset,omitempty"`
	// Drill is for drill schedules: the job's DrillOptions (nil: the
	// defaults, the host's latest snapshot).
	Drill *DrillOptions `json:"drill,omitempty"`
}

// groupRef is the source group the schedule names: a backup's group or a
// drill's.
func (s *Schedule) groupRef() string {
	if s.SourceGroup != "" {
		return s.SourceGroup
	}
	return s.Drill.Group()
}

// MaxJitter bounds Schedule.JitterSeconds (6 hours).
const MaxJitter = 6 * 3600

// Location returns the schedule's time zone.
func (s *Schedule) Location() (*time.Location, error) {
	if s.TimeZone == "" || s.TimeZone == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Berlin or America/New_York", clip(s.TimeZone))
	}
	return loc, nil
}

// Parse returns the schedule's cron schedule in its time zone.
func (s *Schedule) Parse() (cron.Schedule, error) {
	loc, err := s.Location()
	if err != nil {
		return nil, err
	}
	expr := strings.TrimSpace(s.Cron)
	if expr == "" || strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") || len(expr) > 200 {
		return nil, fmt.Errorf("cron expression %q: give five fields (minute hour day month weekday) or @hourly, @daily, @weekly", clip(s.Cron))
	}
	sched, err := CronParser.Parse("CRON_TZ=" + loc.String() + " " + expr)
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %v", clip(s.Cron), err)
	}
	return sched, nil
}

// Next is the first run strictly after t (zero if the expression never
// fires, e.g. 30 February).
func (s *Schedule) Next(t time.Time) (time.Time, error) {
	sched, err := s.Parse()
	if err != nil {
		return time.Time{}, err
	}
	return sched.Next(t), nil
}

// Validate checks a schedule: kind, group reference, cron expression, zone,
// jitter.
func (s *Schedule) Validate() error {
	if !ValidScheduleID(s.ID) {
		return fmt.Errorf("invalid schedule id %q", clip(s.ID))
	}
	switch s.Kind {
	case JobBackup:
		if !ValidGroupID(s.SourceGroup) {
			return errors.New("a backup schedule needs a source group")
		}
	case JobDrill:
		if s.SourceGroup != "" {
			return errors.New("a drill schedule names the source group it draws from in its drill options (drill.source_group)")
		}
	case JobForget, JobPrune, JobCheck:
		if s.SourceGroup != "" {
			return fmt.Errorf("a %s schedule is for the whole host, not one source group", s.Kind)
		}
	default:
		return fmt.Errorf("schedules run backup, forget, prune, check or drill, not %q", clip(string(s.Kind)))
	}
	if s.Drill != nil && s.Kind != JobDrill {
		return fmt.Errorf("drill options belong to a drill schedule, not %s", s.Kind)
	}
	if err := s.Drill.Validate(); err != nil {
		return err
	}
	if s.ReadDataSubset != "" && (s.Kind != JobCheck || !validReadDataSubset(s.ReadDataSubset)) {
		return errors.New("read_data_subset belongs to a check schedule and is n/t, x% or a size like 500M")
	}
	if s.JitterSeconds < 0 || s.JitterSeconds > MaxJitter {
		return fmt.Errorf("jitter must be between 0 and %d seconds", MaxJitter)
	}
	if _, err := s.Parse(); err != nil {
		return err
	}
	return nil
}

// Bandwidth is a host-wide cap on restic's traffic to the repository, in
// KiB/s; 0 means none. A job's own bandwidth fields win over it.
type Bandwidth struct {
	UpKBps   int `json:"up_kbps,omitempty"`
	DownKBps int `json:"down_kbps,omitempty"`
}

// Validate checks the caps' range.
func (b *Bandwidth) Validate() error {
	if b.UpKBps < 0 || b.UpKBps > MaxBandwidthKiB || b.DownKBps < 0 || b.DownKBps > MaxBandwidthKiB {
		return fmt.Errorf("bandwidth caps must be between 0 (none) and %d KiB/s", MaxBandwidthKiB)
	}
	return nil
}

// JobOrigin is on every event of a job the agent started by itself from a
// schedule: the server has no row for it and creates one from the first
// event it sees (idempotently, by the job's uid).
type JobOrigin struct {
	Schedule     string    `json:"schedule"`      // schedule ID
	ScheduledFor time.Time `json:"scheduled_for"` // the cron slot this run is for
	CatchUp      bool      `json:"catch_up,omitempty"`
	Spec         JobSpec   `json:"spec"`
}

// Validate checks an origin.
func (o *JobOrigin) Validate() error {
	if !ValidScheduleID(o.Schedule) {
		return fmt.Errorf("invalid schedule id %q", clip(o.Schedule))
	}
	if o.ScheduledFor.IsZero() {
		return errors.New("scheduled job without scheduled_for")
	}
	return o.Spec.Validate()
}
