package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// jobRow is a whole jobs row plus its host's name.
type jobRow struct {
	ID               int64      `db:"id"`
	UID              string     `db:"uid"`
	HostID           string     `db:"host_id"`
	HostName         string     `db:"host_name"`
	Kind             string     `db:"kind"`
	Spec             string     `db:"spec"`
	Status           string     `db:"status"`
	Version          int64      `db:"version"`
	CommandID        string     `db:"command_id"`
	CancelCommandID  string     `db:"cancel_command_id"`
	ConfigVersion    int64      `db:"config_version"`
	ExpiresAt        time.Time  `db:"expires_at"`
	CreatedBy        string     `db:"created_by"`
	CreatedAt        time.Time  `db:"created_at"`
	UpdatedAt        time.Time  `db:"updated_at"`
	DeliveredAt      *time.Time `db:"delivered_at"`
	StartedAt        *time.Time `db:"started_at"`
	FinishedAt       *time.Time `db:"finished_at"`
	CancelRequested  bool       `db:"cancel_requested"`
	ExitCode         *int       `db:"exit_code"`
	Reason           string     `db:"reason"`
	Detail           string     `db:"detail"`
	SnapshotID       string     `db:"snapshot_id"`
	Result           *string    `db:"result"`
	LogLines         int64      `db:"log_lines"`
	LogMax           int64      `db:"log_max"`
	LogLinesExpected *int64     `db:"log_lines_expected"`
	// #4
	ScheduleID      *int64     `db:"schedule_id"`
	ScheduledFor    *time.Time `db:"scheduled_for"`
	SourceGroupID   *int64     `db:"source_group_id"`
	SourceGroupName *string    `db:"source_group_name"`
}

// jobSelect reads jobRows; callers append WHERE, ORDER and LIMIT.
const jobSelect = `SELECT j.id, j.uid, j.host_id, h.name AS host_name, j.kind, j.spec, j.status, j.version,
	j.command_id, j.cancel_command_id, j.config_version, j.expires_at, j.created_by, j.created_at, j.updated_at,
	j.delivered_at, j.started_at, j.finished_at, j.cancel_requested, j.exit_code, j.reason, j.detail,
	j.snapshot_id, j.result, j.log_lines, j.log_max, j.log_lines_expected,
	j.schedule_id, j.scheduled_for, j.source_group_id, g.name AS source_group_name
	FROM jobs j JOIN hosts h ON h.id = j.host_id LEFT JOIN source_groups g ON g.id = j.source_group_id`

// loadJob reads one job by its number.
func loadJob(ctx context.Context, q sqlx.QueryerContext, id int64) (*jobRow, error) {
	var r jobRow
	err := sqlx.GetContext(ctx, q, &r, jobSelect+` WHERE j.id = ?`, id)
	if isNoRows(err) {
		return nil, notFoundf("There is no job %d.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: load job %d: %w", id, err)
	}
	return &r, nil
}

// state is the row's status as a JobState.
func (r *jobRow) state() topics.JobState { return topics.JobState(r.Status) }

// job converts the row to what the UI and API show. The spec and result
// were validated before they were stored; a row that no longer decodes
// (hand-edited database) shows without them rather than failing the page.
func (r *jobRow) job() Job {
	j := Job{ID: r.ID, UID: r.UID, HostID: r.HostID, HostName: r.HostName, Kind: topics.JobKind(r.Kind),
		Status: r.state(), Terminal: r.state().Terminal(), Version: r.Version, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		ExpiresAt: r.ExpiresAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, CancelRequested: r.CancelRequested,
		ExitCode: r.ExitCode, Reason: r.Reason, Detail: r.Detail, SnapshotID: r.SnapshotID, LogLines: r.LogLines}
	j.ScheduledFor = r.ScheduledFor
	if r.ScheduleID != nil {
		j.ScheduleID = *r.ScheduleID
	}
	if r.SourceGroupID != nil {
		j.SourceGroupID = *r.SourceGroupID
	}
	if r.SourceGroupName != nil {
		j.SourceGroupName = *r.SourceGroupName
	}
	_ = json.Unmarshal([]byte(r.Spec), &j.Spec)
	if j.Spec.Kind == "" {
		j.Spec.Kind = j.Kind
	}
	j.Preview = j.Kind == topics.JobForget && j.Spec.DryRun
	if r.Result != nil {
		var res topics.JobResult
		if json.Unmarshal([]byte(*r.Result), &res) == nil {
			j.Summary = &res
		}
	}
	return j
}

// runCommand is the run command for the job; every resend carries the same
// command id (the envelope id).
func (r *jobRow) runCommand(now time.Time) (*topics.Command, error) {
	var spec topics.JobSpec
	if err := json.Unmarshal([]byte(r.Spec), &spec); err != nil {
		return nil, fmt.Errorf("job %d: stored spec: %w", r.ID, err)
	}
	return &topics.Command{Envelope: commandEnvelope(r.CommandID, r.HostID, now), Action: topics.CmdRun, Job: r.UID,
		Version: r.Version, ExpiresAt: r.ExpiresAt, ConfigVersion: r.ConfigVersion, Spec: &spec}, nil
}

// cancelCommand is the cancel command for the job (its own command id,
// reused on resends).
func (r *jobRow) cancelCommand(now time.Time) *topics.Command {
	return &topics.Command{Envelope: commandEnvelope(r.CancelCommandID, r.HostID, now), Action: topics.CmdCancel,
		Job: r.UID, Version: r.Version}
}

func commandEnvelope(id, host string, now time.Time) topics.Envelope {
	return topics.Envelope{V: topics.ProtocolVersion, ID: id, Type: topics.TypeCmd, TS: now, Host: host}
}

// publishCommand sends a command on the host's down/cmd (QoS 1). A failure
// is logged only: the command goes again after the host's next hello.
func (s *Service) publishCommand(cmd *topics.Command) {
	pub := s.publisher()
	if pub == nil {
		return
	}
	b, err := topics.Encode(cmd)
	if err == nil {
		err = pub.Publish(topics.CmdTopic(cmd.Host), b, false, 1)
	}
	if err != nil {
		s.log.Warn("jobs: publish command", "host", cmd.Host, "job", cmd.Job, "action", cmd.Action, "err", err)
	}
}

// insertJob stores a queued job (version 1) inside tx and returns its number.
func (s *Service) insertJob(ctx context.Context, tx *sqlx.Tx, hostID string, spec topics.JobSpec, configVersion int64,
	expiresIn time.Duration, createdBy string) (int64, error) {
	now := s.now()
	return storeJob(ctx, tx, newJob{hostID: hostID, spec: spec, configVersion: configVersion, createdBy: createdBy,
		createdAt: now, expiresAt: now.Add(expiresIn)})
}

// newJob is a jobs row to insert, queued at version 1.
type newJob struct {
	uid           string // "" = a new random wire id
	hostID        string
	spec          topics.JobSpec
	configVersion int64
	createdBy     string
	createdAt     time.Time
	expiresAt     time.Time
	// #4: the group a backup is of; the schedule and slot of a job the
	// agent started by itself.
	sourceGroupID *int64
	scheduleID    *int64
	scheduledFor  *time.Time
}

// storeJob inserts nj inside tx and returns the job's number.
func storeJob(ctx context.Context, tx *sqlx.Tx, nj newJob) (int64, error) {
	b, err := json.Marshal(nj.spec)
	if err != nil {
		return 0, fmt.Errorf("store: encode job spec: %w", err)
	}
	if nj.uid == "" {
		nj.uid = topics.RandomID(topics.JobIDPrefix)
	}
	var id int64
	err = tx.GetContext(ctx, &id, `INSERT INTO jobs (uid, host_id, kind, spec, status, version, command_id, config_version,
		expires_at, created_by, created_at, updated_at, source_group_id, schedule_id, scheduled_for)
		VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nj.uid, nj.hostID, string(nj.spec.Kind), string(b), string(topics.JobQueued), topics.NewMessageID(), nj.configVersion,
		nj.expiresAt, nj.createdBy, nj.createdAt, nj.createdAt, nj.sourceGroupID, nj.scheduleID, nj.scheduledFor)
	if err != nil {
		return 0, fmt.Errorf("store: insert job: %w", err)
	}
	return id, nil
}
