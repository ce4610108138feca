package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// scheduleKey is a schedule's wire id.
func scheduleKey(id int64) string { return "sch_" + strconv.FormatInt(id, 10) }

// parseScheduleKey is the number in a wire id (0 when it is none).
func parseScheduleKey(key string) int64 {
	num, ok := strings.CutPrefix(key, "sch_")
	id, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || id < 1 {
		return 0
	}
	return id
}

// scheduleRow is a schedules row with its group's name.
type scheduleRow struct {
	ID              int64     `db:"id"`
	HostID          string    `db:"host_id"`
	Kind            string    `db:"kind"`
	SourceGroupID   *int64    `db:"source_group_id"`
	SourceGroupName *string   `db:"source_group_name"`
	Cron            string    `db:"cron"`
	TimeZone        string    `db:"time_zone"`
	CatchUp         bool      `db:"catch_up"`
	JitterSeconds   int       `db:"jitter_seconds"`
	ReadDataSubset  string    `db:"read_data_subset"`
	DrillFiles      int       `db:"drill_files"`
	DrillMaxMB      int       `db:"drill_max_mb"`
	Paused          bool      `db:"paused"`
	CreatedAt       time.Time `db:"created_at"`
	UpdatedAt       time.Time `db:"updated_at"`
}

// loadScheduleRows reads schedules matching where (on alias s), by id.
func loadScheduleRows(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) ([]scheduleRow, error) {
	var rows []scheduleRow
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT s.id, s.host_id, s.kind, s.source_group_id, g.name AS source_group_name,
		s.cron, s.time_zone, s.catch_up, s.jitter_seconds, s.read_data_subset, s.drill_files, s.drill_max_mb,
		s.paused, s.created_at, s.updated_at
		FROM schedules s LEFT JOIN source_groups g ON g.id = s.source_group_id WHERE `+where+` ORDER BY s.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: load schedules: %w", err)
	}
	return rows, nil
}

// wire is the schedule as the agent gets it in the config.
func (r *scheduleRow) wire() topics.Schedule {
	w := topics.Schedule{ID: scheduleKey(r.ID), Kind: topics.JobKind(r.Kind), Cron: r.Cron, TimeZone: r.TimeZone,
		Paused: r.Paused, CatchUp: r.CatchUp, JitterSeconds: r.JitterSeconds, ReadDataSubset: r.ReadDataSubset}
	if r.Kind == string(topics.JobDrill) {
		// A drill's group is the one it draws from, in its options.
		w.Drill = &topics.DrillOptions{Files: r.DrillFiles, MaxMB: r.DrillMaxMB}
		if r.SourceGroupID != nil {
			w.Drill.SourceGroup = groupKey(*r.SourceGroupID)
		}
	} else if r.SourceGroupID != nil {
		w.SourceGroup = groupKey(*r.SourceGroupID)
	}
	return w
}

// same reports whether storing in (normalized, catch-up resolved) would
// change nothing in the row; an empty zone is UTC.
func (r *scheduleRow) same(in ScheduleInput, catchUp bool) bool {
	return r.Kind == string(in.Kind) && r.Cron == in.Cron && zoneName(r.TimeZone) == zoneName(in.TimeZone) &&
		r.CatchUp == catchUp && r.JitterSeconds == in.JitterSeconds && r.ReadDataSubset == in.ReadDataSubset && r.Paused == in.Paused &&
		r.DrillFiles == in.DrillFiles && r.DrillMaxMB == in.DrillMaxMB
}

// schedule converts the row to what the UI and API show, with its next run
// after now (nil while paused or when the expression never fires).
func (r *scheduleRow) schedule(now time.Time) Schedule {
	sc := Schedule{ID: r.ID, Key: scheduleKey(r.ID), HostID: r.HostID, Kind: topics.JobKind(r.Kind), Cron: r.Cron,
		TimeZone: zoneName(r.TimeZone), Description: DescribeSchedule(r.Cron, r.TimeZone), CatchUp: r.CatchUp, JitterSeconds: r.JitterSeconds, ReadDataSubset: r.ReadDataSubset,
		DrillFiles: r.DrillFiles, DrillMaxMB: r.DrillMaxMB, Paused: r.Paused, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.SourceGroupID != nil {
		sc.SourceGroupID = *r.SourceGroupID
	}
	if r.SourceGroupName != nil {
		sc.SourceGroupName = *r.SourceGroupName
	}
	if !r.Paused {
		w := r.wire()
		if next, err := w.Next(now); err == nil && !next.IsZero() {
			sc.Next = &next
		}
	}
	return sc
}

// briefRow is the job of one row of a "newest job of each X" query.
type briefRow struct {
	ID         int64      `db:"id"`
	Status     string     `db:"status"`
	FinishedAt *time.Time `db:"finished_at"`
	CreatedAt  time.Time  `db:"created_at"`
}

func (b *briefRow) brief() *JobBrief {
	at := b.CreatedAt
	if b.FinishedAt != nil {
		at = *b.FinishedAt
	}
	return &JobBrief{ID: b.ID, Status: topics.JobState(b.Status), At: at}
}

// lastJobs runs a query selecting key, id, status, finished_at and
// created_at, and returns the briefs by key.
func lastJobs[K comparable](ctx context.Context, q sqlx.QueryerContext, query string, args ...any) (map[K]*JobBrief, error) {
	var rows []struct {
		Key K `db:"key"`
		briefRow
	}
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make(map[K]*JobBrief, len(rows))
	for i := range rows {
		out[rows[i].Key] = rows[i].brief()
	}
	return out, nil
}

// jsonString encodes v as a JSON string for a TEXT column.
func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("store: encode: %w", err)
	}
	return string(b), nil
}
