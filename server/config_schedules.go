package server

import (
	"context"
	"strings"
	"time"

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
	if in.Kind == topics.JobDrill || in.DrillFiles != 0 || in.DrillMaxMB != 0 {
		w.Drill = &topics.DrillOptions{Files: in.DrillFiles, MaxMB: in.DrillMaxMB}
	}
	switch {
	case in.SourceGroup == "":
	case in.Kind == topics.JobDrill:
		w.Drill.SourceGroup = groupKey(1) // its existence is checked in the transaction
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

// UpdateSchedule replaces a schedule's settings, paused included; one
// saved as it is changes nothing (no config, no audit row). Needs
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
	action, unchanged := "schedule.create", false
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var groupID *int64
		if in.Kind == topics.JobBackup || (in.Kind == topics.JobDrill && in.SourceGroup != "") {
			g, err := findGroup(ctx, tx, hostID, in.SourceGroup)
			if err != nil {
				return err
			}
			if g == nil {
				return noGroup(CodeInvalid, in.SourceGroup)
			}
			groupID = &g.ID
		}
		if id != 0 {
			action = "schedule.update"
			rows, err := loadScheduleRows(ctx, tx, `s.id = ? AND s.host_id = ?`, id, hostID)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return noSchedule(id)
			}
			if r := rows[0]; r.same(in, catchUp) && equalID(r.SourceGroupID, groupID) {
				unchanged = true
				return nil
			}
		}
		if err := storeSchedule(ctx, tx, hostID, &id, in, catchUp, groupID, s.now()); err != nil {
			return err
		}
		version, err := s.changeConfig(ctx, tx, hostID)
		if err != nil {
			return err
		}
		details := scheduleDetails(id, in, catchUp, groupID)
		details["host_id"], details["config_version"] = hostID, version
		return s.audit(ctx, tx, a, action, h.Name, details)
	})
	if err != nil {
		return nil, txError("Could not save the schedule", err)
	}
	if unchanged {
		return s.getSchedule(ctx, hostID, id)
	}
	s.log.Info("schedule saved", "host", hostID, "schedule", scheduleKey(id), "kind", in.Kind, "cron", in.Cron, "by", a.Name)
	s.configChanged(ctx, hostID)
	return s.getSchedule(ctx, hostID, id)
}

// storeSchedule inserts (*id 0; *id becomes its number) or updates the
// host's schedule *id with in (normalized, catchUp resolved) and the
// group of a backup schedule.
func storeSchedule(ctx context.Context, tx *sqlx.Tx, hostID string, id *int64, in ScheduleInput, catchUp bool, groupID *int64, now time.Time) error {
	args := []any{string(in.Kind), groupID, in.Cron, in.TimeZone, catchUp, in.JitterSeconds, in.ReadDataSubset,
		in.DrillFiles, in.DrillMaxMB, in.Paused, now}
	if *id == 0 {
		return tx.GetContext(ctx, id, `INSERT INTO schedules (kind, source_group_id, cron, time_zone, catch_up,
			jitter_seconds, read_data_subset, drill_files, drill_max_mb, paused, updated_at, host_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, append(args, hostID, now)...)
	}
	res, err := tx.ExecContext(ctx, `UPDATE schedules SET kind = ?, source_group_id = ?, cron = ?, time_zone = ?,
		catch_up = ?, jitter_seconds = ?, read_data_subset = ?, drill_files = ?, drill_max_mb = ?, paused = ?, updated_at = ?
		WHERE id = ? AND host_id = ?`, append(args, *id, hostID)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noSchedule(*id)
	}
	return nil
}

// equalID reports whether two optional ids are the same.
func equalID(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// scheduleDetails is what an audit row says about a stored schedule.
func scheduleDetails(id int64, in ScheduleInput, catchUp bool, groupID *int64) map[string]any {
	d := map[string]any{"schedule": scheduleKey(id), "kind": in.Kind, "cron": in.Cron, "time_zone": in.TimeZone,
		"catch_up": catchUp, "jitter_seconds": in.JitterSeconds, "paused": in.Paused}
	if groupID != nil {
		d["source_group"] = groupKey(*groupID)
	}
	if in.ReadDataSubset != "" {
		d["read_data_subset"] = in.ReadDataSubset
	}
	if in.Kind == topics.JobDrill {
		d["drill_files"], d["drill_max_mb"] = in.DrillFiles, in.DrillMaxMB
	}
	return d
}

// groupSchedule is a normalized entry of SourceGroupSave.Schedules.
type groupSchedule struct {
	id      int64
	in      ScheduleInput
	catchUp bool
}

// normalizeGroupSchedules checks a group save's schedules as the agent
// will read them (nil stays nil: the group's schedules are kept).
func normalizeGroupSchedules(list []GroupSchedule) ([]groupSchedule, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]groupSchedule, 0, len(list))
	seen := map[int64]bool{}
	for _, e := range list {
		if e.Kind != "" && e.Kind != topics.JobBackup {
			return nil, invalidf("A source group's schedules are backups; a %s schedule is the host's, not the group's.", clipText(string(e.Kind)))
		}
		if e.ID < 0 || (e.ID > 0 && seen[e.ID]) {
			return nil, invalidf("Schedule %d is listed twice; list each of the group's schedules once.", e.ID)
		}
		seen[e.ID] = true
		e.Kind, e.SourceGroup = topics.JobBackup, groupKey(1) // the group being saved
		in, catchUp, err := e.ScheduleInput.normalize()
		if err != nil {
			return nil, err
		}
		out = append(out, groupSchedule{id: e.ID, in: in, catchUp: catchUp})
	}
	return out, nil
}

// saveGroupSchedules makes list the backup schedules of group groupID
// inside tx: updates the listed ones that differ, adds those without an
// id, deletes the others. It returns what changed for the audit row (nil:
// nothing did). An id that is not one of the group's schedules is refused.
func (s *Service) saveGroupSchedules(ctx context.Context, tx *sqlx.Tx, hostID string, groupID int64, list []groupSchedule) (map[string]any, error) {
	rows, err := loadScheduleRows(ctx, tx, `s.host_id = ? AND s.source_group_id = ?`, hostID, groupID)
	if err != nil {
		return nil, err
	}
	stored := make(map[int64]*scheduleRow, len(rows))
	for i := range rows {
		stored[rows[i].ID] = &rows[i]
	}
	var created, updated, deleted []map[string]any
	now := s.now()
	for _, e := range list {
		if e.id != 0 {
			r := stored[e.id]
			if r == nil {
				return nil, invalidf("Schedule %d is not one of this group's schedules; leave out its id to add a new one.", e.id)
			}
			delete(stored, e.id)
			if r.same(e.in, e.catchUp) {
				continue
			}
		}
		id := e.id
		if err := storeSchedule(ctx, tx, hostID, &id, e.in, e.catchUp, &groupID, now); err != nil {
			return nil, err
		}
		d := scheduleDetails(id, e.in, e.catchUp, nil)
		if e.id == 0 {
			created = append(created, d)
		} else {
			updated = append(updated, d)
		}
	}
	for _, r := range rows {
		if stored[r.ID] == nil {
			continue // listed
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM schedules WHERE id = ?`, r.ID); err != nil {
			return nil, err
		}
		deleted = append(deleted, map[string]any{"schedule": scheduleKey(r.ID)})
	}
	if created == nil && updated == nil && deleted == nil {
		return nil, nil
	}
	out := map[string]any{}
	for k, v := range map[string][]map[string]any{"created": created, "updated": updated, "deleted": deleted} {
		if v != nil {
			out[k] = v
		}
	}
	return out, nil
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
