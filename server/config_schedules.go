package server

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Schedules (#4) run on the agent, from the last config it received; the
// server keeps them, sends them in the config and shows their next run
// (computed from the same cron dialect, topics.CronParser) and their last
// run (the newest job the agent reported for the schedule: ingest_origin.go).

// ListSchedules returns the host's schedules, oldest first, with next and
// last runs.
func (s *Service) ListSchedules(ctx context.Context, hostID string) ([]Schedule, error) {
	if _, err := s.GetHost(ctx, hostID); err != nil {
		return nil, err
	}
	return s.loadSchedules(ctx, hostID)
}

// loadSchedules reads the host's schedules with next and last runs (two
// queries).
func (s *Service) loadSchedules(ctx context.Context, hostID string) ([]Schedule, error) {
	rows, err := loadScheduleRows(ctx, s.db, `s.host_id = ?`, hostID)
	if err != nil {
		return nil, internal("Could not load the schedules", err)
	}
	last, err := lastJobs[int64](ctx, s.db, `SELECT s.id AS key, j.id, j.status, j.finished_at, j.created_at
		FROM schedules s JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE schedule_id = s.id)
		WHERE s.host_id = ?`, hostID)
	if err != nil {
		return nil, internal("Could not load the schedules' last runs", err)
	}
	now := s.now()
	out := make([]Schedule, len(rows))
	for i := range rows {
		out[i] = rows[i].schedule(now)
		out[i].Last = last[rows[i].ID]
	}
	return out, nil
}

// getSchedule returns one of the host's schedules with next and last run.
func (s *Service) getSchedule(ctx context.Context, hostID string, id int64) (*Schedule, error) {
	all, err := s.loadSchedules(ctx, hostID)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ID == id {
			return &all[i], nil
		}
	}
	return nil, noSchedule(id)
}

func noSchedule(id int64) error { return notFoundf("There is no schedule %d on this host.", id) }

// normalize trims the input and checks everything but the group's
// existence as the agent will (topics), in one sentence.
func (in ScheduleInput) normalize() (ScheduleInput, bool, error) {
	in.SourceGroup, in.Cron, in.TimeZone = strings.TrimSpace(in.SourceGroup), strings.TrimSpace(in.Cron), strings.TrimSpace(in.TimeZone)
	in.ReadDataSubset = strings.TrimSpace(in.ReadDataSubset)
	catchUp := in.CatchUp == nil || *in.CatchUp
	w := topics.Schedule{ID: scheduleKey(1), Kind: in.Kind, Cron: in.Cron, TimeZone: in.TimeZone, CatchUp: catchUp,
		JitterSeconds: in.JitterSeconds, ReadDataSubset: in.ReadDataSubset, Paused: in.Paused}
	switch {
	case in.SourceGroup == "":
	case in.Kind == topics.JobBackup:
		w.SourceGroup = groupKey(1) // its existence is checked in the transaction
	default:
		w.SourceGroup = in.SourceGroup // refused: host-wide kinds take no group
	}
	if err := w.Validate(); err != nil {
		return in, catchUp, &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	return in, catchUp, nil
}

// CreateSchedule validates and stores a schedule (nothing stored when bad:
// an unknown kind, a backup without an existing group of the host, a group
// on a host-wide kind, a bad cron, zone or jitter), bumps the config
// version and sends the config. Needs PermConfigure; audited.
func (s *Service) CreateSchedule(ctx context.Context, a Actor, hostID string, in ScheduleInput) (*Schedule, error) {
	return s.saveSchedule(ctx, a, hostID, 0, in)
}

// UpdateSchedule replaces a schedule's settings, paused included. Needs
// PermConfigure; audited.
func (s *Service) UpdateSchedule(ctx context.Context, a Actor, hostID string, id int64, in ScheduleInput) (*Schedule, error) {
	if id < 1 {
		return nil, noSchedule(id)
	}
	return s.saveSchedule(ctx, a, hostID, id, in)
}

// saveSchedule creates (id 0) or updates schedule id.
func (s *Service) saveSchedule(ctx context.Context, a Actor, hostID string, id int64, in ScheduleInput) (*Schedule, error) {
	if err := a.require(PermConfigure); err != nil {
		return nil, err
	}
	in, catchUp, err := in.normalize()
	if err != nil {
		return nil, err
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return nil, err
	}
	action := "schedule.create"
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var groupID *int64
		if in.Kind == topics.JobBackup {
			g, err := findGroup(ctx, tx, hostID, in.SourceGroup)
			if err != nil {
				return err
			}
			if g == nil {
				return noGroup(CodeInvalid, in.SourceGroup)
			}
			groupID = &g.ID
		}
		now := s.now()
		args := []any{string(in.Kind), groupID, in.Cron, in.TimeZone, catchUp, in.JitterSeconds, in.ReadDataSubset, in.Paused, now}
		if id == 0 {
			if err := tx.GetContext(ctx, &id, `INSERT INTO schedules (kind, source_group_id, cron, time_zone, catch_up,
				jitter_seconds, read_data_subset, paused, updated_at, host_id, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, append(args, hostID, now)...); err != nil {
				return err
			}
		} else {
			action = "schedule.update"
			res, err := tx.ExecContext(ctx, `UPDATE schedules SET kind = ?, source_group_id = ?, cron = ?, time_zone = ?,
				catch_up = ?, jitter_seconds = ?, read_data_subset = ?, paused = ?, updated_at = ?
				WHERE id = ? AND host_id = ?`, append(args, id, hostID)...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return noSchedule(id)
			}
		}
		version, err := s.changeConfig(ctx, tx, hostID)
		if err != nil {
			return err
		}
		details := map[string]any{"host_id": hostID, "schedule": scheduleKey(id), "kind": in.Kind, "cron": in.Cron,
			"time_zone": in.TimeZone, "catch_up": catchUp, "jitter_seconds": in.JitterSeconds, "paused": in.Paused,
			"config_version": version}
		if groupID != nil {
			details["source_group"] = groupKey(*groupID)
		}
		return s.audit(ctx, tx, a, action, h.Name, details)
	})
	if err != nil {
		return nil, txError("Could not save the schedule", err)
	}
	s.log.Info("schedule saved", "host", hostID, "schedule", scheduleKey(id), "kind", in.Kind, "cron", in.Cron, "by", a.Name)
	s.configChanged(ctx, hostID)
	return s.getSchedule(ctx, hostID, id)
}

// DeleteSchedule removes a schedule; the jobs it started stay (without
// it). Needs PermConfigure; audited.
func (s *Service) DeleteSchedule(ctx context.Context, a Actor, hostID string, id int64) error {
	if err := a.require(PermConfigure); err != nil {
		return err
	}
	return s.changeSchedule(ctx, a, hostID, id, "schedule.delete", `DELETE FROM schedules WHERE id = ? AND host_id = ?`)
}

// SetSchedulePaused pauses or resumes a schedule (the agent stops or
// restarts running it once it has the new config). Needs PermRunJobs: an
// operator may hold back or let go what an admin set up. Audited; asking
// for the state it is already in changes nothing.
func (s *Service) SetSchedulePaused(ctx context.Context, a Actor, hostID string, id int64, paused bool) (*Schedule, error) {
	if err := a.require(PermRunJobs); err != nil {
		return nil, err
	}
	action, query := "schedule.resume", `UPDATE schedules SET paused = 0, updated_at = ? WHERE id = ? AND host_id = ? AND paused = 1`
	if paused {
		action, query = "schedule.pause", `UPDATE schedules SET paused = 1, updated_at = ? WHERE id = ? AND host_id = ? AND paused = 0`
	}
	if err := s.changeSchedule(ctx, a, hostID, id, action, query, s.now()); err != nil {
		return nil, err
	}
	return s.getSchedule(ctx, hostID, id)
}

// changeSchedule runs query (its last two arguments are the schedule's id
// and host) and, when it changed a row, bumps the config, audits and sends
// it. A schedule that is not the host's is not found; one already as asked
// is left alone.
func (s *Service) changeSchedule(ctx context.Context, a Actor, hostID string, id int64, action, query string, args ...any) error {
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return err
	}
	changed := false
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var exists int
		if err := tx.GetContext(ctx, &exists, `SELECT COUNT(*) FROM schedules WHERE id = ? AND host_id = ?`, id, hostID); err != nil {
			return err
		}
		if exists == 0 {
			return noSchedule(id)
		}
		res, err := tx.ExecContext(ctx, query, append(args, id, hostID)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		changed = true
		version, err := s.changeConfig(ctx, tx, hostID)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, a, action, h.Name, map[string]any{"host_id": hostID, "schedule": scheduleKey(id),
			"config_version": version})
	})
	if err != nil {
		return txError("Could not change the schedule", err)
	}
	if changed {
		s.log.Info("schedule changed", "host", hostID, "schedule", scheduleKey(id), "action", action, "by", a.Name)
		s.configChanged(ctx, hostID)
	}
	return nil
}
