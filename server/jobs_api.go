package server

import (
	"context"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// This file is the contract between the domain (server) and the web layer
// for #3: repositories, jobs, logs, progress and snapshots. The web layer
// calls only these methods and reads only these types.

// Event kinds for jobs, repositories and snapshots (Event.JobID is set for
// the job kinds).
const (
	EventJobUpdated        = "job.updated"        // created, state changed, cancel requested
	EventJobLog            = "job.log"            // new log lines stored
	EventJobProgress       = "job.progress"       // new live progress
	EventRepositoryChanged = "repository.changed" // set, initialised, init failed
	EventSnapshotsChanged  = "snapshots.changed"  // a host's snapshot list was replaced
)

// RepositoryInput is what an admin sets: the repository and its secrets.
type RepositoryInput struct {
	URL      string            `json:"url"`
	Password string            `json:"password"`
	Env      map[string]string `json:"env"`
}

// Repository states, for RepositoryStatus.State.
const (
	RepoNone         = "none"         // never set
	RepoInitializing = "initializing" // set; the init job has not finished
	RepoReady        = "ready"        // init succeeded or found an existing repository
	RepoFailed       = "failed"       // the last init job did not succeed
)

// RepositoryStatus is what the UI and API show about a host's repository.
// It never carries a secret: the URL is shown with any password in it
// redacted, and backend variables by name only.
type RepositoryStatus struct {
	HostID        string     `json:"host_id"`
	State         string     `json:"state"`
	URL           string     `json:"url"`       // redacted
	EnvNames      []string   `json:"env_names"` // never nil
	InitJobID     int64      `json:"init_job_id,omitempty"`
	InitReason    string     `json:"init_reason,omitempty"` // why the last init failed
	InitializedAt *time.Time `json:"initialized_at"`
	UpdatedAt     *time.Time `json:"updated_at"`
	// ConfigVersion is the desired config version; AppliedVersion what
	// the agent last reported applying.
	ConfigVersion  int64 `json:"config_version"`
	AppliedVersion int64 `json:"applied_version"`
}

// Job is one job as the UI and API show it (the JSON API's shape of one:
// docs/DECISIONS.md, "One shape per resource"). ID is the short number
// people use ("job 42"); UID is the id on the wire.
type Job struct {
	ID       int64           `json:"id"`
	UID      string          `json:"uid"`
	HostID   string          `json:"host_id"`
	HostName string          `json:"host_name"`
	Kind     topics.JobKind  `json:"kind"`
	Status   topics.JobState `json:"status"`
	// Terminal: Status is an end state (succeeded, warning, failed,
	// canceled, expired, interrupted).
	Terminal bool `json:"terminal"`
	// Version is the job's state version on the wire (not in the API).
	Version   int64          `json:"-"`
	Spec      topics.JobSpec `json:"spec"`
	CreatedBy string         `json:"created_by"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	ExpiresAt time.Time      `json:"expires_at"`
	// StartedAt and FinishedAt are the agent's times for running and the
	// terminal state.
	StartedAt       *time.Time `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	CancelRequested bool       `json:"cancel_requested"`
	// ExitCode is restic's, when it ran and ended.
	ExitCode   *int              `json:"exit_code"`
	Reason     string            `json:"reason"`
	Detail     string            `json:"detail"`
	SnapshotID string            `json:"snapshot_id"`
	Summary    *topics.JobResult `json:"summary"`
	// LogLines is how many log lines are stored.
	LogLines int64 `json:"log_lines"`
	// #4: the schedule that started the job on the agent (0: started from
	// the UI/API), the cron slot it ran for, and the source group.
	ScheduleID      int64      `json:"schedule_id,omitempty"`
	ScheduledFor    *time.Time `json:"scheduled_for,omitempty"`
	SourceGroupName string     `json:"source_group,omitempty"`
	SourceGroupID   int64      `json:"source_group_id,omitempty"`
	// Preview: a retention preview (a dry-run forget) that removes
	// nothing.
	Preview bool `json:"preview"`
}

// JobFilter selects jobs for ListJobs; zero fields select everything.
// Results are newest first; BeforeID pages (jobs with ID < BeforeID).
type JobFilter struct {
	HostID   string
	Status   topics.JobState
	Kind     topics.JobKind
	BeforeID int64
	Limit    int // default 50, at most 500
}

// JobRequest asks for a job: its spec and how long it may wait for the
// host before it expires (0: DefaultJobExpiry).
type JobRequest struct {
	Spec      topics.JobSpec
	ExpiresIn time.Duration
	// SourceGroup (#4), for a backup: the group by id or name. Its paths,
	// excludes, tags (and group tag) and forget-after-backup policy fill
	// Spec, which must then carry no paths of its own; the bandwidth
	// fields of Spec still apply (a per-run override).
	SourceGroup string
}

// DefaultJobExpiry is how long a job waits for an offline host.
const DefaultJobExpiry = 24 * time.Hour

// LogLine is one stored line of a job's log.
type LogLine struct {
	N      uint64    `json:"n"`
	T      time.Time `json:"t"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// Snapshot is one snapshot of a host's repository, as last reported.
type Snapshot struct {
	topics.SnapshotInfo
	ShortID string `json:"short_id"`
}

// SnapshotList is a host's snapshot list and when the agent took it.
type SnapshotList struct {
	HostID     string     `json:"host_id"`
	ReportedAt *time.Time `json:"reported_at"` // nil: never reported
	Snapshots  []Snapshot `json:"snapshots"`   // newest first
}

// RepositoryService is what the domain offers for repositories.
type RepositoryService interface {
	// SetRepository validates and stores (encrypted) a host's repository,
	// bumps the host's config version, publishes the config to the agent
	// and queues an init job, all in one transaction and audited. Needs
	// PermConfigure. A malformed URL or env name is an invalid-input error.
	SetRepository(ctx context.Context, a Actor, hostID string, in RepositoryInput) (*Job, error)
	// GetRepository returns the repository's state (RepoNone if unset).
	GetRepository(ctx context.Context, hostID string) (*RepositoryStatus, error)
	// ReinitRepository queues a fresh init (never wiping anything) after
	// the host name was typed out; admin only, audited.
	ReinitRepository(ctx context.Context, a Actor, hostID, confirmName string) (*Job, error)
}

// JobService is what the domain offers for jobs.
type JobService interface {
	// CreateJob validates the spec (4xx error, nothing stored, when bad;
	// a job for a host without a repository is refused — "Set the host's
	// repository first." — while one whose init failed still runs jobs:
	// they report what is wrong, e.g. a wrong password, and unlock or
	// check may be what fixes it), stores it queued and, if the host is
	// online, sends the command. Needs PermRunJobs. Audited.
	CreateJob(ctx context.Context, a Actor, hostID string, req JobRequest) (*Job, error)
	// CancelJob asks the agent to stop the job; a job still queued (never
	// delivered) is canceled at once. Needs PermRunJobs. Audited.
	CancelJob(ctx context.Context, a Actor, id int64) (*Job, error)
	GetJob(ctx context.Context, id int64) (*Job, error)
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// JobLog returns up to limit lines numbered > after, in order.
	JobLog(ctx context.Context, id int64, after uint64, limit int) ([]LogLine, error)
	// JobProgress is the latest live progress of a running job (in memory).
	JobProgress(id int64) (*topics.JobProgress, bool)
	// Snapshots returns the host's last reported snapshot list.
	Snapshots(ctx context.Context, hostID string) (*SnapshotList, error)
}

var (
	_ RepositoryService = (*Service)(nil)
	_ JobService        = (*Service)(nil)
)
