package server

import (
	"context"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// This file is the contract between the domain and the web layer for #4:
// source groups, schedules, retention, bandwidth caps and the config a host
// has applied. Every change bumps the host's config version and sends the
// new topics.Config on down/config (the agent runs the schedules itself).

// EventConfigChanged: a host's source groups, schedules or caps changed, or
// the agent reported applying a config version.
const EventConfigChanged = "config.changed"

// SourceGroupInput is what an admin sets for a source group.
type SourceGroupInput struct {
	Name              string            `json:"name"`
	Paths             []string          `json:"paths"`
	Excludes          []string          `json:"excludes"`
	ExcludeFiles      []string          `json:"exclude_files"`
	ExcludeCaches     bool              `json:"exclude_caches"`
	OneFileSystem     bool              `json:"one_file_system"`
	Tags              []string          `json:"tags"`
	Retention         *topics.Retention `json:"retention"`
	ForgetAfterBackup bool              `json:"forget_after_backup"`
	// Hooks (#10) are never in this JSON (the audit log records it): the
	// web layer fills them from the body's pre_hook, post_hook and
	// hook_timeout_seconds.
	Hooks HookInput `json:"-"`
}

// SourceGroup is a stored source group, and the JSON API's shape of one
// (docs/DECISIONS.md, "One shape per resource"). Key is its wire id
// (sg_<ID>).
type SourceGroup struct {
	ID     int64  `json:"id"`
	Key    string `json:"key"`
	HostID string `json:"host_id"`
	SourceGroupInput
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Schedules []Schedule `json:"schedules"` // its backup schedules, never nil
	// LastBackup is the group's newest backup job (nil: none yet).
	LastBackup *JobBrief `json:"last_backup"`
	// HookSet says whether the group has its own hooks (#10); the bodies
	// are filled (from SourceGroupHooks) for admins only.
	HookSet
}

// SourceGroupSave is what SaveSourceGroup stores in one transaction: the
// group and, when Schedules is not nil, its backup schedules.
type SourceGroupSave struct {
	SourceGroupInput
	// Schedules, when not nil, are the group's backup schedules after the
	// save: an entry with an ID updates that schedule of the group, one
	// without adds one, and the group's schedules not listed are removed
	// (an empty, non-nil list removes them all). Nil keeps them as they
	// are. An entry's Kind is backup (or empty) and its SourceGroup is
	// ignored: it is the group being saved.
	Schedules []GroupSchedule
}

// GroupSchedule is one backup schedule of a SourceGroupSave; ID 0 is a
// new one.
type GroupSchedule struct {
	ID int64
	ScheduleInput
}

// ScheduleInput is what an admin sets for a schedule. Presets (hourly,
// daily at HH:MM, weekly) are turned into Cron by the web layer; Cron is
// checked with topics.CronParser.
type ScheduleInput struct {
	Kind topics.JobKind // backup, forget, prune, check, drill
	// SourceGroup names the group of a backup schedule, by id or name
	// (a drill schedule's, optional: the group it draws from).
	SourceGroup    string
	Cron           string
	TimeZone       string // IANA; "" = UTC
	CatchUp        *bool  // nil = true
	JitterSeconds  int
	ReadDataSubset string
	Paused         bool
	// DrillFiles and DrillMaxMB bound a drill schedule's sample (0: the
	// defaults, topics.DrillOptions).
	DrillFiles int
	DrillMaxMB int
}

// JobBrief is a job in one line: for "Last: 8 h ago — succeeded".
type JobBrief struct {
	ID     int64           `json:"id"`
	Status topics.JobState `json:"status"`
	// At is when it finished, or when it was created if it has not.
	At time.Time `json:"at"`
}

// Schedule is a stored schedule with its next and last run, and the JSON
// API's shape of one. Key is its wire id (sch_<ID>); SourceGroupName is
// the name of a backup schedule's group (the API takes a name or an id there).
type Schedule struct {
	ID              int64          `json:"id"`
	Key             string         `json:"key"`
	HostID          string         `json:"host_id"`
	Kind            topics.JobKind `json:"kind"`
	SourceGroupID   int64          `json:"source_group_id,omitempty"`
	SourceGroupName string         `json:"source_group,omitempty"`
	Cron            string         `json:"cron"`
	TimeZone        string         `json:"time_zone"` // "UTC" when none was set
	Description     string         `json:"description"`
	CatchUp         bool           `json:"catch_up"`
	JitterSeconds   int            `json:"jitter_seconds"`
	ReadDataSubset  string         `json:"read_data_subset,omitempty"`
	DrillFiles      int            `json:"drill_files,omitempty"`
	DrillMaxMB      int            `json:"drill_max_mb,omitempty"`
	Paused          bool           `json:"paused"`
	// Next is the next run computed from the same cron as the agent's
	// (nil while paused, or when the expression never fires).
	Next *time.Time `json:"next"`
	// Last is the newest job this schedule started (nil: none yet).
	Last      *JobBrief `json:"last"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Input is what saving s again unchanged would send.
func (s Schedule) Input() ScheduleInput {
	catchUp := s.CatchUp
	group := ""
	if s.SourceGroupID != 0 {
		group = groupKey(s.SourceGroupID)
	}
	return ScheduleInput{Kind: s.Kind, SourceGroup: group, Cron: s.Cron, TimeZone: s.TimeZone, CatchUp: &catchUp,
		JitterSeconds: s.JitterSeconds, ReadDataSubset: s.ReadDataSubset, Paused: s.Paused,
		DrillFiles: s.DrillFiles, DrillMaxMB: s.DrillMaxMB}
}

// ConfigStatus is a host's desired config version and the one its agent
// last reported applying.
type ConfigStatus struct {
	HostID    string           `json:"host_id"`
	Desired   int64            `json:"desired"`
	Applied   int64            `json:"applied"`
	Pending   bool             `json:"pending"` // Applied < Desired
	Bandwidth topics.Bandwidth `json:"bandwidth"`
}

// HostPlan is what the dashboard shows per host about schedules and the
// last backup; FleetPlans answers for all hosts in a few queries.
type HostPlan struct {
	HostID string `json:"host_id"`
	// NextRun is the earliest next run of the host's unpaused backup
	// schedules (nil: none).
	NextRun *time.Time `json:"next_run,omitempty"`
	// AllPaused: the host has backup schedules and all are paused.
	AllPaused  bool         `json:"all_paused,omitempty"`
	LastBackup *JobBrief    `json:"last_backup,omitempty"`
	Config     ConfigStatus `json:"config"`
}

// ConfigService is what the domain offers for #4. Changes need
// PermConfigure and are audited; each bumps the config version and sends
// the config. A group or schedule is named by its number or (groups) name.
type ConfigService interface {
	ListSourceGroups(ctx context.Context, hostID string) ([]SourceGroup, error)
	GetSourceGroup(ctx context.Context, hostID, ref string) (*SourceGroup, error)
	// CreateSourceGroup validates: a unique name, at least one path, every
	// path absolute; retention valid; nothing stored when bad.
	CreateSourceGroup(ctx context.Context, a Actor, hostID string, in SourceGroupInput) (*SourceGroup, error)
	UpdateSourceGroup(ctx context.Context, a Actor, hostID, ref string, in SourceGroupInput) (*SourceGroup, error)
	// SaveSourceGroup creates (ref "") or updates a group together with
	// its backup schedules: one transaction, one config version, one
	// audit row; a save that changes nothing writes nothing.
	SaveSourceGroup(ctx context.Context, a Actor, hostID, ref string, in SourceGroupSave) (*SourceGroup, error)
	// DeleteSourceGroup removes the group and its schedules (its snapshots
	// stay in the repository).
	DeleteSourceGroup(ctx context.Context, a Actor, hostID, ref string) error

	ListSchedules(ctx context.Context, hostID string) ([]Schedule, error)
	CreateSchedule(ctx context.Context, a Actor, hostID string, in ScheduleInput) (*Schedule, error)
	UpdateSchedule(ctx context.Context, a Actor, hostID string, id int64, in ScheduleInput) (*Schedule, error)
	DeleteSchedule(ctx context.Context, a Actor, hostID string, id int64) error
	// SetSchedulePaused pauses or resumes; needs PermRunJobs.
	SetSchedulePaused(ctx context.Context, a Actor, hostID string, id int64, paused bool) (*Schedule, error)

	// SetBandwidth sets the host-wide caps (0 = none).
	SetBandwidth(ctx context.Context, a Actor, hostID string, b topics.Bandwidth) error
	GetConfigStatus(ctx context.Context, hostID string) (*ConfigStatus, error)
	// FleetPlans returns every host's plan, keyed by host id.
	FleetPlans(ctx context.Context) (map[string]HostPlan, error)

	// PreviewRetention queues a dry-run forget of the group's snapshots
	// with the policy (restic forget --dry-run --json --tag <group tag>);
	// the job's Summary.WouldRemove lists what it would remove now. Needs
	// PermConfigure (it is part of editing a policy). The policy is not
	// saved.
	PreviewRetention(ctx context.Context, a Actor, hostID, groupRef string, policy topics.Retention) (*Job, error)
}

var _ ConfigService = (*Service)(nil)
