package server

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Bounds on how long a job may wait for its host (JobRequest.ExpiresIn).
const (
	MinJobExpiry = time.Second
	MaxJobExpiry = 30 * 24 * time.Hour
)

// CreateJob validates the spec (an invalid-input error, nothing stored,
// when it is bad), stores the job queued (version 1), audits it and sends
// the run command if the host is online right now; an offline host gets it
// after its next hello. A host without a repository gets no job ("Set the
// host's repository first."). A repository whose init failed does not stop
// jobs: the failure may have been passing (the remote was unreachable), and
// a job that fails says why in its own words (e.g. "wrong password").
//
// A backup of a source group (req.SourceGroup, by key, number or name)
// takes its paths, excludes, tags (plus the group tag) and forget-after
// policy from the group; a request that also brings its own is refused.
//
// A job that removes data (an ad-hoc forget or prune) is
// admin-only; an operator is refused with a sentence and nothing is queued
// (jobs_permission.go).
func (s *Service) CreateJob(ctx context.Context, a Actor, hostID string, req JobRequest) (*Job, error) {
	if err := a.require(PermRunJobs); err != nil {
		return nil, err
	}
	return s.queueJob(ctx, a, hostID, req, nil)
}

// queueJob is CreateJob after the role check; audit adds to the audit
// row's details. It refuses a job that removes data to a role that may not
// remove data, once the spec is known to be valid and before anything is
// stored (jobs_permission.go).
func (s *Service) queueJob(ctx context.Context, a Actor, hostID string, req JobRequest, audit map[string]any) (*Job, error) {
	spec := req.Spec
	groupRef := strings.TrimSpace(req.SourceGroup)
	if groupRef != "" {
		if err := checkGroupRequest(&spec); err != nil {
			return nil, err
		}
	} else if err := spec.Validate(); err != nil {
		return nil, &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	if err := a.requireJobKind(spec); err != nil {
		return nil, err
	}
	expiresIn := req.ExpiresIn
	if expiresIn == 0 {
		expiresIn = DefaultJobExpiry
	}
	if expiresIn < MinJobExpiry || expiresIn > MaxJobExpiry {
		return nil, invalidf("A job may wait between 1 second and 30 days for its host to come online.")
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	var source *Host
	if spec.IsCrossHost() {
		if source, err = s.restoreSource(ctx, hostID, &spec); err != nil {
			return nil, err
		}
	}
	var jobID int64
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var repo struct {
			State   string `db:"state"`
			Version int64  `db:"config_version"`
		}
		if err := tx.GetContext(ctx, &repo, `SELECT COALESCE(r.state, ?) AS state, h.config_version
			FROM hosts h LEFT JOIN repositories r ON r.host_id = h.id WHERE h.id = ?`, RepoNone, hostID); err != nil {
			return err
		}
		if repo.State == RepoNone && !spec.IsCrossHost() { // a cross-host restore reads the source's
			return invalidf("Set the host's repository first.")
		}
		details := map[string]any{"host_id": hostID, "kind": spec.Kind, "expires_in": expiresIn.String()}
		if spec.Kind == topics.JobRestore {
			maps.Copy(details, restoreAudit(spec, source))
		}
		var groupID *int64
		if groupRef != "" {
			g, err := findGroup(ctx, tx, hostID, groupRef)
			if err != nil {
				return err
			}
			if g == nil {
				return noGroup(CodeInvalid, groupRef)
			}
			spec, groupID = g.backupSpec(spec), &g.ID
			if err := spec.Validate(); err != nil {
				return &Error{Code: CodeInvalid, Message: sentence(err.Error())}
			}
			details["source_group"] = spec.SourceGroup
		}
		now := s.now()
		var err error
		if jobID, err = storeJob(ctx, tx, newJob{hostID: hostID, spec: spec, configVersion: repo.Version, createdBy: a.Name,
			createdAt: now, expiresAt: now.Add(expiresIn), sourceGroupID: groupID}); err != nil {
			return err
		}
		if spec.Kind == topics.JobInit {
			if err := followInit(ctx, tx, hostID, jobID, now); err != nil {
				return err
			}
		}
		details["job"] = jobID
		maps.Copy(details, audit)
		return s.audit(ctx, tx, a, "job.create", h.Name, details)
	})
	if err != nil {
		return nil, txError("Could not queue the job", err)
	}
	s.log.Info("job queued", "job", jobID, "host", hostID, "kind", spec.Kind, "group", spec.SourceGroup, "by", a.Name)
	if spec.Kind == topics.JobInit {
		return s.dispatchNewJob(ctx, jobID, EventRepositoryChanged)
	}
	return s.dispatchNewJob(ctx, jobID)
}

// checkGroupRequest checks a backup request naming a source group: it is
// a backup (an empty kind means one) and brings none of what the group
// fills in.
func checkGroupRequest(spec *topics.JobSpec) error {
	if spec.Kind == "" {
		spec.Kind = topics.JobBackup
	}
	if spec.Kind != topics.JobBackup {
		return invalidf("Only a backup is of a source group; leave the source group out of a %s.", clipText(string(spec.Kind)))
	}
	if len(spec.Paths) > 0 || len(spec.Excludes) > 0 || len(spec.ExcludeFiles) > 0 || len(spec.Tags) > 0 ||
		spec.ExcludeCaches || spec.OneFileSystem || spec.SourceGroup != "" || spec.ForgetAfter != nil {
		return invalidf("A backup of a source group takes its paths, excludes and tags from the group; give either a source group or paths, not both.")
	}
	return nil
}

// dispatchNewJob sends a freshly stored job's run command if its host is
// online, announces it (and the extra event kinds) on the bus and returns it.
func (s *Service) dispatchNewJob(ctx context.Context, jobID int64, also ...string) (*Job, error) {
	r, err := loadJob(ctx, s.db, jobID)
	if err != nil {
		return nil, internal("Could not load the new job", err)
	}
	if s.presence.isOnline(r.HostID) {
		if cmd, err := s.runCommandFor(ctx, r, s.now()); err != nil {
			s.log.Error("jobs: build run command", "job", r.ID, "err", err)
		} else {
			s.publishCommand(cmd)
		}
	}
	s.events.Publish(Event{Kind: EventJobUpdated, HostID: r.HostID, JobID: r.ID})
	for _, k := range also {
		s.events.Publish(Event{Kind: k, HostID: r.HostID})
	}
	j := r.job()
	return &j, nil
}

// CancelJob stops a job. One still queued (never delivered) is canceled at
// once; the cancel command is sent anyway in case the run command is on
// its way. A delivered or running job is marked cancel-requested and the
// agent is told to stop it (it reports canceled). A finished job is a
// conflict. Asking again repeats the cancel command.
func (s *Service) CancelJob(ctx context.Context, a Actor, id int64) (*Job, error) {
	if err := a.require(PermRunJobs); err != nil {
		return nil, err
	}
	var r *jobRow
	repoChanged := false
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if r, err = loadJob(ctx, tx, id); err != nil {
			return err
		}
		st := r.state()
		if st.Terminal() {
			return conflictf("Job %d already ended (%s); there is nothing to cancel.", id, st)
		}
		cancelID := r.CancelCommandID
		if cancelID == "" {
			cancelID = topics.NewMessageID()
		}
		now := s.now()
		if st == topics.JobQueued && r.ScheduledFor == nil { // a job the agent started is on the agent already
			const reason = "Canceled before the host received it."
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, version = version + 1, cancel_requested = 1,
				cancel_command_id = ?, updated_at = ?, finished_at = ?, reason = ? WHERE id = ?`,
				topics.JobCanceled, cancelID, now, now, reason, id); err != nil {
				return err
			}
			if r.Kind == string(topics.JobInit) {
				if repoChanged, err = initEnded(ctx, tx, r.HostID, id, topics.JobCanceled, "The init job was canceled.", now, now); err != nil {
					return err
				}
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE jobs SET cancel_requested = 1, cancel_command_id = ?, updated_at = ?
			WHERE id = ?`, cancelID, now, id); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, a, "job.cancel", r.HostName, map[string]any{"host_id": r.HostID, "job": id,
			"kind": r.Kind, "status": st}); err != nil {
			return err
		}
		r, err = loadJob(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, txError("Could not cancel the job", err)
	}
	s.log.Info("job cancel requested", "job", id, "host", r.HostID, "status", r.Status, "by", a.Name)
	if s.presence.isOnline(r.HostID) {
		s.publishCommand(r.cancelCommand(s.now()))
	}
	s.events.Publish(Event{Kind: EventJobUpdated, HostID: r.HostID, JobID: r.ID, Ended: r.state().Terminal()})
	if r.state().Terminal() {
		s.jobEnded(finishedJob{id: r.ID, uid: r.UID, hostID: r.HostID, hostName: r.HostName, kind: r.Kind, state: r.state(),
			preview: isPreview(r.Kind, r.Spec)})
	}
	if repoChanged {
		s.events.Publish(Event{Kind: EventRepositoryChanged, HostID: r.HostID})
	}
	j := r.job()
	return &j, nil
}
