package server

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// HostDrill is a host's newest finished restore drill (#14): the job that
// proves, or disproves, that its backups restore. It is read from the jobs
// table (kind drill, the jobs_host_kind index), so it needs no column of
// its own and follows the jobs as they are stored.
type HostDrill struct {
	Job int64 `json:"job"`
	// Status is succeeded (restore verified), warning (nothing to
	// sample) or failed.
	Status topics.JobState `json:"status"`
	At     time.Time       `json:"at"`
}

// Verified reports whether the drill proved its sample restores.
func (d *HostDrill) Verified() bool { return d != nil && d.Status == topics.JobSucceeded }

// fillDrills sets LastDrill of hosts (all active hosts, or those among
// ids when not nil): one query, one index seek per host.
func (s *Service) fillDrills(ctx context.Context, hosts []Host, ids []string) error {
	if len(hosts) == 0 {
		return nil
	}
	scope, args := hostScope(ids)
	var rows []struct {
		HostID string `db:"host_id"`
		briefRow
	}
	err := sqlx.SelectContext(ctx, s.db, &rows, `SELECT h.id AS host_id, j.id, j.status, j.finished_at, j.created_at
		FROM hosts h JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE host_id = h.id AND kind = 'drill'
			AND status IN ('succeeded', 'warning', 'failed'))
		WHERE `+scope, args...)
	if err != nil {
		return err
	}
	byHost := make(map[string]*HostDrill, len(rows))
	for i := range rows {
		b := rows[i].brief()
		byHost[rows[i].HostID] = &HostDrill{Job: b.ID, Status: b.Status, At: b.At.UTC()}
	}
	for i := range hosts {
		hosts[i].LastDrill = byHost[hosts[i].ID]
	}
	return nil
}
