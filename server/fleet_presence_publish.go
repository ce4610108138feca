package server

import (
	"context"
	"slices"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// A reconnect storm changes the online state of thousands of hosts between
// two presence flushes, and each change publishes the host's retained
// monitor state. Loading each host on its own (GetHost, its newest backup,
// its repository's size: about ten queries) on the presence goroutine took
// a fifth of the server's CPU in a 3,000-agent storm and kept the read pool
// from the API; a server stopping under 5,000 agents spent 50 s in its last
// flush. So the states are built from batches: monitorBatch hosts are
// loaded with ListHostsByID and monitorFactsOf, a handful of queries for
// the whole batch (docs/scale.md).
const monitorBatch = 500

// monitorFacts is what a host's monitor state needs besides the host
// itself: its newest backup job and its repository's size (nil: none).
type monitorFacts struct {
	last *JobBrief
	size *int64
}

// monitorFactsOf reads the monitor facts of the hosts ids, two queries for
// all of them. A host without a backup or repository statistics has
// empty facts; a failed read is logged and leaves the facts it would have
// given empty (the state is published without them; a canceled ctx, the
// server stopping, is not worth a line).
func (s *Service) monitorFactsOf(ctx context.Context, ids []string) map[string]*monitorFacts {
	facts := make(map[string]*monitorFacts, len(ids))
	for _, id := range ids {
		facts[id] = &monitorFacts{}
	}
	if len(ids) == 0 {
		return facts
	}
	in, args := idList(ids)
	var jobs []struct {
		HostID     string     `db:"host_id"`
		ID         int64      `db:"id"`
		Status     string     `db:"status"`
		CreatedAt  time.Time  `db:"created_at"`
		FinishedAt *time.Time `db:"finished_at"`
	}
	// The newest backup job of each host: one seek per host in
	// jobs_host_kind (host_id, kind, id DESC).
	if err := s.db.SelectContext(ctx, &jobs, `SELECT host_id, id, status, created_at, finished_at FROM jobs
		WHERE id IN (SELECT MAX(id) FROM jobs WHERE kind = 'backup' AND host_id IN (`+in+`) GROUP BY host_id)`, args...); err != nil && ctx.Err() == nil {
		s.log.Warn("monitor: last backups", "hosts", len(ids), "err", err)
	}
	for _, j := range jobs {
		at := j.CreatedAt
		if j.FinishedAt != nil {
			at = *j.FinishedAt
		}
		if f := facts[j.HostID]; f != nil {
			f.last = &JobBrief{ID: j.ID, Status: topics.JobState(j.Status), At: at}
		}
	}
	var sizes []struct {
		HostID string `db:"host_id"`
		Size   int64  `db:"total_size"`
	}
	if err := s.db.SelectContext(ctx, &sizes, `SELECT r.host_id, r.total_size FROM repository_stats r
		WHERE r.host_id IN (`+in+`) AND r.day = (SELECT MAX(day) FROM repository_stats WHERE host_id = r.host_id)`, args...); err != nil && ctx.Err() == nil {
		s.log.Warn("monitor: repository sizes", "hosts", len(ids), "err", err)
	}
	for _, r := range sizes {
		if f := facts[r.HostID]; f != nil {
			size := r.Size
			f.size = &size
		}
	}
	return facts
}

// publishChanged publishes the monitor state, and a host.online or
// host.offline event, of each host of rows (those whose online state a
// flush changed), as the flush saw it (a later change is the next
// flush's), monitorBatch hosts at a time.
func (p *Presence) publishChanged(ctx context.Context, pub Publisher, rows []presenceRow) {
	online := make(map[string]bool)
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.id)
		online[r.id] = r.hp.online
	}
	for batch := range slices.Chunk(ids, monitorBatch) {
		if p.isStopping() {
			return // nobody is left to tell (Stopping)
		}
		hosts, err := p.s.ListHostsByID(ctx, batch)
		if err != nil {
			p.s.log.Warn("monitor: load hosts", "hosts", len(batch), "err", err)
			continue
		}
		facts := p.s.monitorFactsOf(ctx, batch)
		for i := range hosts {
			h := &hosts[i]
			state := monitorStateOf(h, online[h.ID], facts[h.ID])
			evt := &topics.MonitorEvent{Envelope: topics.NewEnvelope(topics.TypeMonitorEvt, h.ID), Event: "host." + state.Status, Name: h.Name}
			p.monitorMu.Lock()
			p.s.publishMonitorState(pub, state)
			if b, err := topics.Encode(evt); err == nil {
				_ = pub.Publish(topics.MonitorEventsTopic(), b, false, 0)
			}
			p.monitorMu.Unlock()
		}
	}
}
