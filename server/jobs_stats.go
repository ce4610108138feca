package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Stats jobs (#13) are queued by the server, not scheduled on the agent
// (docs/DECISIONS.md, "Repository stats and charts"). Every
// StatsLookEvery the sweep queues one for each host whose repository is
// ready and that has none waiting, when its last stats job was queued
// StatsEvery ago or more, or a prune (or forget --prune) ended
// successfully after it. A host that is offline gets it after its next
// hello, like any queued job; it waits StatsJobExpiry for the host, then
// the next look queues a fresh one.

// StatsLookEvery the sweep queues one for each host whose repository is ready and that has
// none waiting, when its last stats job was queued StatsEvery ago or
// more, or a prune (or forget --prune) ended successfully after it. A
// host that is offline gets it after its next hello, like any queued
// job; it waits StatsJobExpiry for the host, then the next sweep queues
// a fresh one.

// StatsLookEvery is how often the sweep looks for hosts due for stats;
// the first look is StatsLookEvery after the service starts. Nothing is
// urgent about a measurement, a restart does not measure every repository
// at once, and a short-lived server (a test) queues none by itself.
const StatsLookEvery = 10 * time.Minute

// statsCadence remembers when the sweep last looked.
type statsCadence struct {
	mu     sync.Mutex
	looked time.Time
}

// due reports whether it is time to look again at now (and if so, notes
// that it looks now).
func (c *statsCadence) due(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.looked.IsZero() {
		c.looked = now
		return false
	}
	if now.Sub(c.looked) < StatsLookEvery {
		return false
	}
	c.looked = now
	return true
}

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
	if !s.statsLooked.due(now) {
		return nil
	}
	var hosts []string
	if err := s.db.SelectContext(ctx, &hosts, `SELECT h.id FROM hosts h JOIN repositories r ON r.host_id = h.id
		WHERE h.revoked_at IS NULL AND r.state = 'ready'
		AND NOT EXISTS (SELECT 1 FROM jobs w WHERE w.host_id = h.id AND w.kind = 'stats'
			AND w.status IN ('queued', 'delivered', 'running'))
		AND (
			NOT EXISTS (SELECT 1 FROM jobs l WHERE l.host_id = h.id AND l.kind = 'stats' AND l.created_at > ?)
			OR EXISTS (SELECT 1 FROM jobs p WHERE p.host_id = h.id AND p.status IN ('succeeded', 'warning')
				AND (p.kind = 'prune' OR (p.kind = 'forget' AND `+s.db.dialect.jsonFlag(`p.spec`, `prune`)+` = 1))
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
