package server

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Host-wide bandwidth caps, the desired vs applied config, and the fleet's
// plans (next run, last backup) for the dashboard.

// SetBandwidth sets the host-wide caps (KiB/s, 0 = none), bumps the config
// version and sends the config; a job's own limits win over them on the
// agent. Needs PermConfigure; audited.
func (s *Service) SetBandwidth(ctx context.Context, a Actor, hostID string, b topics.Bandwidth) error {
	if err := a.require(PermConfigure); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return &Error{Code: CodeInvalid, Message: sentence(err.Error())}
	}
	h, err := s.GetHost(ctx, hostID)
	if err != nil {
		return err
	}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET bandwidth_up_kbps = ?, bandwidth_down_kbps = ? WHERE id = ?`,
			b.UpKBps, b.DownKBps, hostID); err != nil {
			return err
		}
		version, err := s.changeConfig(ctx, tx, hostID)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "host.bandwidth", h.Name, map[string]any{"host_id": hostID, "up_kbps": b.UpKBps,
			"down_kbps": b.DownKBps, "config_version": version})
	})
	if err != nil {
		return txError("Could not set the bandwidth caps", err)
	}
	s.log.Info("bandwidth caps set", "host", hostID, "up_kbps", b.UpKBps, "down_kbps", b.DownKBps, "by", a.Name)
	s.configChanged(ctx, hostID)
	return nil
}

// configRow is what ConfigStatus is made of.
type configRow struct {
	HostID   string `db:"id"`
	Desired  int64  `db:"config_version"`
	Applied  int64  `db:"applied_config_version"`
	UpKBps   int    `db:"bandwidth_up_kbps"`
	DownKBps int    `db:"bandwidth_down_kbps"`
}

const configRowSelect = `SELECT id, config_version, applied_config_version, bandwidth_up_kbps, bandwidth_down_kbps
	FROM hosts WHERE revoked_at IS NULL`

func (r *configRow) status() ConfigStatus {
	return ConfigStatus{HostID: r.HostID, Desired: r.Desired, Applied: r.Applied, Pending: r.Applied < r.Desired,
		Bandwidth: topics.Bandwidth{UpKBps: r.UpKBps, DownKBps: r.DownKBps}}
}

// GetConfigStatus returns the host's desired and applied config versions
// and its caps.
func (s *Service) GetConfigStatus(ctx context.Context, hostID string) (*ConfigStatus, error) {
	var r configRow
	err := s.db.GetContext(ctx, &r, configRowSelect+` AND id = ?`, hostID)
	if isNoRows(err) {
		return nil, notFoundf("There is no host with ID %q; it may have been revoked.", clipText(hostID))
	}
	if err != nil {
		return nil, internal("Could not load the config status", err)
	}
	st := r.status()
	return &st, nil
}

// FleetPlans returns every active host's plan in three queries, whatever
// the fleet's size: the hosts' config rows, every backup schedule, and the
// newest backup job of each host (one index seek per host, jobs_host_kind).
// Next runs are computed here; hosts share few distinct crons, so each
// (cron, zone) is parsed once per call.
func (s *Service) FleetPlans(ctx context.Context) (map[string]HostPlan, error) {
	return s.HostPlans(ctx, nil)
}

// HostPlans is FleetPlans for the active hosts among ids (nil: every
// one): a page of the dashboard, or the rows an event changed (#15), read
// without touching the rest of the fleet.
func (s *Service) HostPlans(ctx context.Context, ids []string) (map[string]HostPlan, error) {
	scope, args := hostScope(ids)
	var hosts []configRow
	if err := s.db.SelectContext(ctx, &hosts, `SELECT h.id, h.config_version, h.applied_config_version, h.bandwidth_up_kbps,
		h.bandwidth_down_kbps FROM hosts h WHERE `+scope, args...); err != nil {
		return nil, internal("Could not load the fleet's plans", err)
	}
	var scheds []struct {
		HostID   string `db:"host_id"`
		Cron     string `db:"cron"`
		TimeZone string `db:"time_zone"`
		Paused   bool   `db:"paused"`
	}
	if err := s.db.SelectContext(ctx, &scheds, `SELECT s.host_id, s.cron, s.time_zone, s.paused
		FROM schedules s JOIN hosts h ON h.id = s.host_id WHERE s.kind = 'backup' AND `+scope, args...); err != nil {
		return nil, internal("Could not load the fleet's schedules", err)
	}
	last, err := lastJobs[string](ctx, s.db, `SELECT h.id AS key, j.id, j.status, j.finished_at, j.created_at
		FROM hosts h JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE host_id = h.id AND kind = 'backup')
		WHERE `+scope, args...)
	if err != nil {
		return nil, internal("Could not load the fleet's last backups", err)
	}
	plans := make(map[string]HostPlan, len(hosts))
	for i := range hosts {
		plans[hosts[i].HostID] = HostPlan{HostID: hosts[i].HostID, LastBackup: last[hosts[i].HostID], Config: hosts[i].status()}
	}
	now := s.now()
	nexts := make(map[[2]string]*time.Time) // (cron, zone) -> next run after now
	type tally struct{ schedules, paused int }
	counts := make(map[string]tally)
	for _, sc := range scheds {
		c := counts[sc.HostID]
		c.schedules++
		if sc.Paused {
			c.paused++
		}
		counts[sc.HostID] = c
		if sc.Paused {
			continue
		}
		key := [2]string{sc.Cron, sc.TimeZone}
		next, seen := nexts[key]
		if !seen {
			w := topics.Schedule{Cron: sc.Cron, TimeZone: sc.TimeZone}
			if t, err := w.Next(now); err == nil && !t.IsZero() {
				next = &t
			}
			nexts[key] = next
		}
		p := plans[sc.HostID]
		if next != nil && (p.NextRun == nil || next.Before(*p.NextRun)) {
			t := *next // each plan its own copy
			p.NextRun = &t
			plans[sc.HostID] = p
		}
	}
	for host, c := range counts {
		if c.schedules > 0 && c.schedules == c.paused {
			p := plans[host]
			p.AllPaused = true
			plans[host] = p
		}
	}
	return plans, nil
}
