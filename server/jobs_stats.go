package server

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Stats jobs (#13) are queued by the server, not scheduled on the agent
// (docs/DECISIONS.md, "Repository stats are queued by the server"): every
// sweep queues one for each host whose repository is ready and that has
// none waiting, when its last stats job was queued StatsEvery ago or
// more, or a prune (or forget --prune) ended successfully after it. A
// host that is offline gets it after its next hello, like any queued
// job; it waits StatsJobExpiry for the host, then the next sweep queues
// a fresh one.

// StatsEvery is how often a host's repository is measured.
const StatsEvery = 24 * time.Hour

// StatsJobExpiry is how long a stats job waits for its host.
const StatsJobExpiry = 7 * 24 * time.Hour

// CreatedByServer is Job.CreatedBy of a job the server queued by itself.
const CreatedByServer = "server"

// queueDueStats queues the stats jobs that are due and sends those of
// online hosts.
func (s *Service) queueDueStats(ctx context.Context) error {
	now := s.now()
	var hosts []string
	if err := s.db.SelectContext(ctx, &hosts, `SELECT h.id FROM hosts h JOIN repositories r ON r.host_id = h.id
		WHERE h.revoked_at IS NULL AND r.state = 'ready'
		AND NOT EXISTS (SELECT 1 FROM jobs w WHERE w.host_id = h.id AND w.kind = 'stats'
			AND w.status IN ('queued', 'delivered', 'running'))
		AND (
			NOT EXISTS (SELECT 1 FROM jobs l WHERE l.host_id = h.id AND l.kind = 'stats' AND l.created_at > ?)
			OR EXISTS (SELECT 1 FROM jobs p WHERE p.host_id = h.id AND p.status IN ('succeeded', 'warning')
				AND (p.kind = 'prune' OR (p.kind = 'forget' AND json_extract(p.spec, '$.prune') = 1))
				AND p.finished_at > (SELECT MAX(l.created_at) FROM jobs l WHERE l.host_id = h.id AND l.kind = 'stats'))
		)`, now.Add(-StatsEvery)); err != nil {
		return fmt.Errorf("find hosts due for stats: %w", err)
	}
	for _, h := range hosts {
		var id int64
		err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			id, err = s.insertJob(ctx, tx, h, topics.JobSpec{Kind: topics.JobStats}, 0, StatsJobExpiry, CreatedByServer)
			return err
		})
		if err != nil {
			return fmt.Errorf("queue stats for %s: %w", h, err)
		}
		if _, err := s.dispatchNewJob(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
