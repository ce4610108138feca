package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// HostMetrics is one host's figures for /metrics (#13), read for every
// active host at once (FleetMetrics).
type HostMetrics struct {
	ID     string
	Name   string
	Online bool
	// Health is the host's health as GET /api/v1/hosts gives it
	// (LastSuccessAt, Overdue, ...: fleet_health.go).
	Health HostHealth
	// LastBackup is the summary (restic's counters) of the host's newest
	// backup that made a snapshot, the one LastSuccessAt names; nil when
	// there is none or it carried no summary.
	LastBackup *topics.BackupSummary
	// LastJobs is the status of the host's newest ended job of each kind
	// in MetricsJobKinds it ever ran.
	LastJobs map[topics.JobKind]topics.JobState
	// Snapshots is how many snapshots the host's repository lists (its
	// last snapshot report).
	Snapshots int64
	// RepositorySize is the newest `restic stats --mode raw-data` total
	// size of the host's repository (repository_stats); nil before the
	// first stats job.
	RepositorySize *int64
	// LastDrill is the host's newest finished restore drill (#14,
	// fleet_drills.go); nil before the first.
	LastDrill *HostDrill
}

// MetricsJobKinds are the kinds whose last status /metrics reports per
// host: the recurring work a fleet depends on. One-off jobs (init,
// unlock, restore, snapshots) say nothing about a host's health.
var MetricsJobKinds = []topics.JobKind{topics.JobBackup, topics.JobCheck, topics.JobForget, topics.JobPrune, topics.JobStats}

// metricsRow is FleetMetrics' query row.
type metricsRow struct {
	ID         string     `db:"id"`
	Name       string     `db:"name"`
	Online     bool       `db:"online"`
	LastSeen   *time.Time `db:"last_seen"`
	CreatedAt  time.Time  `db:"created_at"`
	LastResult *string    `db:"last_result"`
	Snapshots  int64      `db:"snapshots"`
	RepoSize   *int64     `db:"repository_size"`
	Backup     *string    `db:"backup_status"`
	Check      *string    `db:"check_status"`
	Forget     *string    `db:"forget_status"`
	Prune      *string    `db:"prune_status"`
	Stats      *string    `db:"stats_status"`
}

// lastJobStatus is the status of the host's newest ended job of a kind:
// a walk of index jobs_host_kind newest first that stops at the first
// ended one. A retention preview (a dry-run forget) is no forget.
func lastJobStatus(d Dialect, kind topics.JobKind) string {
	preview := ""
	if kind == topics.JobForget {
		preview = ` AND ` + d.jsonFlag(`spec`, `dry_run`) + ` = 0`
	}
	return `(SELECT status FROM jobs WHERE host_id = h.id AND kind = '` + string(kind) + `'
		AND status IN ('succeeded', 'warning', 'failed', 'canceled', 'expired', 'interrupted')` + preview + `
		ORDER BY id DESC LIMIT 1) AS ` + string(kind) + `_status`
}

// fleetMetricsQuery reads every active host's figures at once: one pass
// over the hosts, each subquery an index seek (or a short walk of one
// host's newest rows), never a query per host.
func fleetMetricsQuery(d Dialect) string {
	return `SELECT h.id, h.name, h.online, h.last_seen, h.created_at, ls.result AS last_result,
	(SELECT COUNT(*) FROM snapshots s WHERE s.host_id = h.id) AS snapshots,
	(SELECT total_size FROM repository_stats r WHERE r.host_id = h.id ORDER BY day DESC LIMIT 1) AS repository_size,
	` + lastJobStatus(d, topics.JobBackup) + `,
	` + lastJobStatus(d, topics.JobCheck) + `,
	` + lastJobStatus(d, topics.JobForget) + `,
	` + lastJobStatus(d, topics.JobPrune) + `,
	` + lastJobStatus(d, topics.JobStats) + `
FROM hosts h
LEFT JOIN jobs ls ON ls.id = (SELECT id FROM jobs WHERE host_id = h.id AND kind = 'backup'
	AND status IN ('succeeded', 'warning') ORDER BY finished_at DESC LIMIT 1)
WHERE h.revoked_at IS NULL
ORDER BY h.name`
}

// FleetMetrics reads every active host's figures for /metrics: one query
// for the figures, and the hosts' health as ListHosts fills it.
func (s *Service) FleetMetrics(ctx context.Context) ([]HostMetrics, error) {
	var rows []metricsRow
	if err := s.db.SelectContext(ctx, &rows, fleetMetricsQuery(s.db.dialect)); err != nil {
		return nil, internal("Could not read the fleet's metrics", err)
	}
	hosts := make([]Host, len(rows))
	for i, r := range rows {
		hosts[i] = Host{ID: r.ID, Name: r.Name, Online: r.Online, LastSeen: r.LastSeen, CreatedAt: r.CreatedAt}
		s.presence.overlay(&hosts[i])
	}
	if err := s.fillHealth(ctx, hosts, nil); err != nil {
		return nil, internal("Could not compute the hosts' health", err)
	}
	if err := s.fillDrills(ctx, hosts, nil); err != nil {
		return nil, internal("Could not load the hosts' restore drills", err)
	}
	out := make([]HostMetrics, len(rows))
	for i, r := range rows {
		m := HostMetrics{ID: r.ID, Name: r.Name, Online: hosts[i].Online, Health: hosts[i].HostHealth,
			Snapshots: r.Snapshots, RepositorySize: r.RepoSize, LastJobs: map[topics.JobKind]topics.JobState{},
			LastDrill: hosts[i].LastDrill}
		if r.LastResult != nil {
			var res topics.JobResult
			if json.Unmarshal([]byte(*r.LastResult), &res) == nil {
				m.LastBackup = res.Backup
			}
		}
		for kind, st := range map[topics.JobKind]*string{topics.JobBackup: r.Backup, topics.JobCheck: r.Check,
			topics.JobForget: r.Forget, topics.JobPrune: r.Prune, topics.JobStats: r.Stats} {
			if st != nil {
				m.LastJobs[kind] = topics.JobState(*st)
			}
		}
		out[i] = m
	}
	return out, nil
}
