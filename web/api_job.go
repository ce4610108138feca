package web

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// apiJob is a job in the JSON API (DESIGN §6: status, kind, exit_code,
// summary, snapshot_id), its own type so that the API contract does not
// change when the domain's Job does. Times are UTC.
type apiJob struct {
	ID              int64             `json:"id"`
	UID             string            `json:"uid"`
	HostID          string            `json:"host_id"`
	HostName        string            `json:"host_name"`
	Kind            topics.JobKind    `json:"kind"`
	Status          topics.JobState   `json:"status"`
	Terminal        bool              `json:"terminal"`
	Spec            topics.JobSpec    `json:"spec"`
	CreatedBy       string            `json:"created_by"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
	ExpiresAt       time.Time         `json:"expires_at"`
	StartedAt       *time.Time        `json:"started_at"`
	FinishedAt      *time.Time        `json:"finished_at"`
	CancelRequested bool              `json:"cancel_requested"`
	ExitCode        *int              `json:"exit_code"`
	Reason          string            `json:"reason"`
	Detail          string            `json:"detail"`
	SnapshotID      string            `json:"snapshot_id"`
	Summary         *topics.JobResult `json:"summary"`
	LogLines        int64             `json:"log_lines"`
	// #4: the schedule that started it on the agent, the slot it ran for,
	// and the source group it backed up.
	ScheduleID   int64      `json:"schedule_id,omitempty"`
	ScheduledFor *time.Time `json:"scheduled_for,omitempty"`
	SourceGroup  string     `json:"source_group,omitempty"`
	// Preview: a retention preview (a dry-run forget) that removes nothing.
	Preview bool `json:"preview"`
}

func newAPIJob(j server.Job) apiJob {
	return apiJob{
		ID: j.ID, UID: j.UID, HostID: j.HostID, HostName: j.HostName, Kind: j.Kind, Status: j.Status,
		Terminal: j.Status.Terminal(), Spec: j.Spec, CreatedBy: j.CreatedBy,
		CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(), ExpiresAt: j.ExpiresAt.UTC(),
		StartedAt: utcPtr(j.StartedAt), FinishedAt: utcPtr(j.FinishedAt), CancelRequested: j.CancelRequested,
		ExitCode: j.ExitCode, Reason: j.Reason, Detail: j.Detail, SnapshotID: j.SnapshotID, Summary: j.Summary,
		LogLines: j.LogLines, ScheduleID: j.ScheduleID, ScheduledFor: utcPtr(j.ScheduledFor), SourceGroup: j.SourceGroupName,
		Preview: isPreview(j),
	}
}

// apiRepository is a host's repository state in the JSON API. Like the
// domain's RepositoryStatus it never carries a secret: the URL with any
// password in it redacted, backend variables by name only.
type apiRepository struct {
	HostID         string     `json:"host_id"`
	State          string     `json:"state"`
	URL            string     `json:"url"`
	EnvNames       []string   `json:"env_names"`
	InitJobID      int64      `json:"init_job_id,omitempty"`
	InitReason     string     `json:"init_reason,omitempty"`
	InitializedAt  *time.Time `json:"initialized_at"`
	UpdatedAt      *time.Time `json:"updated_at"`
	ConfigVersion  int64      `json:"config_version"`
	AppliedVersion int64      `json:"applied_version"`
}

func newAPIRepository(r server.RepositoryStatus) apiRepository {
	names := r.EnvNames
	if names == nil {
		names = []string{}
	}
	return apiRepository{
		HostID: r.HostID, State: r.State, URL: r.URL, EnvNames: names, InitJobID: r.InitJobID, InitReason: r.InitReason,
		InitializedAt: utcPtr(r.InitializedAt), UpdatedAt: utcPtr(r.UpdatedAt),
		ConfigVersion: r.ConfigVersion, AppliedVersion: r.AppliedVersion,
	}
}

// jobID is the :id of a job route: the job's number.
func jobID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	return id, err == nil && id > 0
}

// apiProgress is a running job's latest progress in the JSON API.
type apiProgress struct {
	At             time.Time `json:"at"`
	Percent        float64   `json:"percent"`
	FilesDone      uint64    `json:"files_done"`
	FilesTotal     uint64    `json:"files_total"`
	BytesDone      uint64    `json:"bytes_done"`
	BytesTotal     uint64    `json:"bytes_total"`
	ETASeconds     int64     `json:"eta_seconds"` // -1: unknown
	ElapsedSeconds int64     `json:"elapsed_seconds"`
	CurrentFile    string    `json:"current_file,omitempty"`
	ErrorCount     uint64    `json:"error_count"`
}

func newAPIProgress(p *topics.JobProgress) apiProgress {
	return apiProgress{
		At: p.TS.UTC(), Percent: p.Percent, FilesDone: p.FilesDone, FilesTotal: p.FilesTotal,
		BytesDone: p.BytesDone, BytesTotal: p.BytesTotal, ETASeconds: p.ETASeconds,
		ElapsedSeconds: p.ElapsedSeconds, CurrentFile: p.CurrentFile, ErrorCount: p.ErrorCount,
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
