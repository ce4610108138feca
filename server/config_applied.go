package server

import (
	"context"
	"sync"
)

// The config version a host reports (in every hello and heartbeat) against
// the one the server last built for it: the config seam's side of a hello.

// appliedVersions remembers the config version each host last reported, so
// that heartbeats write nothing unless it changes.
type appliedVersions struct {
	mu sync.Mutex
	v  map[string]int64
}

// syncConfigAfterHello records the config version the agent reports in its
// hello and publishes the host's config when the agent's is older. It
// reports false when the host's row could not be read (revoked, or the
// store failed: logged), and the hello's other resends are skipped too.
func (s *Service) syncConfigAfterHello(ctx context.Context, hostID string, agentVersion int64) bool {
	s.recordApplied(ctx, hostID, agentVersion)
	var desired int64
	if err := s.db.getPrepared(ctx, &desired, `SELECT config_version FROM hosts WHERE id = ? AND revoked_at IS NULL`, hostID); err != nil {
		if !isNoRows(err) {
			s.log.Error("hello: load config version", "host", hostID, "err", err)
		}
		return false
	}
	if desired > 0 && agentVersion > desired {
		// The agent applied a config this database never made (restored
		// from a backup): jump past it, or the agent would ignore ours.
		s.log.Warn("hello: the agent's config is newer than the server's; sending the server's as a newer version",
			"host", hostID, "agent", agentVersion, "server", desired)
		if _, err := s.db.ExecContext(ctx, `UPDATE hosts SET config_version = ? WHERE id = ? AND config_version < ?`,
			agentVersion+1, hostID, agentVersion+1); err != nil {
			s.log.Error("hello: bump config version", "host", hostID, "err", err)
			return false
		}
		desired = agentVersion + 1
	}
	if agentVersion < desired {
		s.publishConfig(ctx, hostID)
	}
	return true
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
		if err := s.db.getPrepared(ctx, &stored, `SELECT applied_config_version FROM hosts WHERE id = ?`, hostID); err == nil && stored == v {
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
