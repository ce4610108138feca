package server

import (
	"context"
	"sync"

	"github.com/restic-manager/restic-manager/topics"
)

// After every hello the server resends what the agent may have missed
// (DESIGN §3): the config when the agent's applied version is older, the
// run command of every job not yet reported past "delivered", and the
// cancel command of every job whose cancel is not yet confirmed. Resends
// keep their command ids; the agent's journal answers duplicates.

// resendWhere selects the jobs a hello may have to hear about again: the
// unfinished ones, and the ones canceled before any delivery (their run
// command may still reach the agent; the cancel must overtake it). The
// jobs_resend index has the same condition.
const resendWhere = `(j.status IN ('queued', 'delivered', 'running')
	OR (j.status = 'canceled' AND j.cancel_requested = 1 AND j.delivered_at IS NULL))`

// appliedVersions remembers the config version each host last reported, so
// that heartbeats write nothing unless it changes.
type appliedVersions struct {
	mu sync.Mutex
	v  map[string]int64
}

// afterHello runs after presence has recorded a hello.
func (s *Service) afterHello(ctx context.Context, hostID string, m *topics.Hello) {
	s.recordApplied(ctx, hostID, m.ConfigVersion)
	var desired int64
	if err := s.db.GetContext(ctx, &desired, `SELECT config_version FROM hosts WHERE id = ? AND revoked_at IS NULL`, hostID); err != nil {
		if !isNoRows(err) {
			s.log.Error("hello: load config version", "host", hostID, "err", err)
		}
		return
	}
	if desired > 0 && m.ConfigVersion > desired {
		// The agent applied a config this database never made (restored
		// from a backup): jump past it, or the agent would ignore ours.
		s.log.Warn("hello: the agent's config is newer than the server's; sending the server's as a newer version",
			"host", hostID, "agent", m.ConfigVersion, "server", desired)
		if _, err := s.db.ExecContext(ctx, `UPDATE hosts SET config_version = ? WHERE id = ? AND config_version < ?`,
			m.ConfigVersion+1, hostID, m.ConfigVersion+1); err != nil {
			s.log.Error("hello: bump config version", "host", hostID, "err", err)
			return
		}
		desired = m.ConfigVersion + 1
	}
	if m.ConfigVersion < desired {
		s.publishConfig(ctx, hostID)
	}
	var rows []jobRow
	if err := s.db.SelectContext(ctx, &rows, jobSelect+` WHERE j.host_id = ? AND `+resendWhere+` ORDER BY j.id`, hostID); err != nil {
		s.log.Error("hello: load unfinished jobs", "host", hostID, "err", err)
		return
	}
	now := s.now()
	for i := range rows {
		r := &rows[i]
		switch st := r.state(); {
		case r.CancelRequested:
			if st.Terminal() && !now.Before(r.ExpiresAt) {
				continue // the run command expired too: nothing left to overtake
			}
			s.publishCommand(r.cancelCommand(now))
		case r.ScheduledFor != nil:
			// The agent started it from a schedule: it has no run command.
		case st == topics.JobQueued || st == topics.JobDelivered:
			cmd, err := r.runCommand(now)
			if err != nil {
				s.log.Error("hello: build run command", "job", r.ID, "err", err)
				continue
			}
			s.publishCommand(cmd)
		}
	}
}

// recordApplied stores the config version a host reports having applied,
// when it changed.
func (s *Service) recordApplied(ctx context.Context, hostID string, v int64) {
	s.applied.mu.Lock()
	old, known := s.applied.v[hostID]
	s.applied.v[hostID] = v
	s.applied.mu.Unlock()
	if known && old == v {
		return
	}
	if !known {
		// After a restart every agent says hello at once: read before
		// writing, so that the common case (nothing changed) takes no
		// write lock.
		var stored int64
		if err := s.db.GetContext(ctx, &stored, `SELECT applied_config_version FROM hosts WHERE id = ?`, hostID); err == nil && stored == v {
			return
		}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE hosts SET applied_config_version = ? WHERE id = ? AND applied_config_version != ?`,
		v, hostID, v)
	if err != nil {
		s.log.Error("config: record applied version", "host", hostID, "err", err)
		s.applied.mu.Lock()
		delete(s.applied.v, hostID)
		s.applied.mu.Unlock()
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.events.Publish(Event{Kind: EventRepositoryChanged, HostID: hostID})
		s.events.Publish(Event{Kind: EventConfigChanged, HostID: hostID})
	}
}
