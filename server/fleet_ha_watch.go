package server

import (
	"context"
	"database/sql"
	"errors"

	"github.com/restic-manager/restic-manager/topics"
)

// runMonitorWatch keeps the monitor feed current with what the bus says: a
// host that appears or changes (name, agent version) gets its state and,
// with discovery on, its Home Assistant configs; a host whose health
// changes (overdue, offline past its threshold) gets its state. A missed
// event (resync) republishes everything. Presence.Run runs it; presence
// changes and finished jobs publish the state themselves.
func (s *Service) runMonitorWatch(ctx context.Context) {
	events, stop := s.events.Subscribe()
	defer stop()
	// Whatever happened before the subscription: publish it all once.
	s.republishMonitor(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			switch e.Kind {
			case EventResync:
				s.republishMonitor(ctx)
			case EventHostCreated, EventHostUpdated, EventHostOverdue, EventHostOffline:
				s.refreshMonitorHost(ctx, e.HostID, e.Kind == EventHostCreated || e.Kind == EventHostUpdated)
			}
		}
	}
}

// republishMonitor publishes every host's state and, with discovery on, its
// configs.
func (s *Service) republishMonitor(ctx context.Context) {
	if err := s.presence.republish(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("monitor: republish", "err", err)
	}
}

// refreshMonitorHost publishes one host's state and, when configs is set
// and discovery is on, its discovery configs.
func (s *Service) refreshMonitorHost(ctx context.Context, id string, configs bool) {
	pub := s.publisher()
	if pub == nil || id == "" {
		return
	}
	h, err := s.GetHost(ctx, id)
	if err != nil {
		if ErrorCodeOf(err) != CodeNotFound {
			s.log.Warn("monitor: load host", "host", id, "err", err)
		}
		return
	}
	s.publishMonitorState(pub, s.monitorState(ctx, h, h.Online, nil))
	if configs {
		s.syncHAConfigs(ctx, id)
	}
}

// fillMonitorHealth sets the health part of a host's monitor state: its
// last success and overdue (from its health, fleet_health.go) and its
// repository's size (the newest restic stats of it).
func (s *Service) fillMonitorHealth(ctx context.Context, h *Host, st *topics.MonitorHostState) {
	st.LastSuccessAt, st.Overdue = h.LastSuccessAt, h.Overdue
	var size int64
	err := s.db.GetContext(ctx, &size, `SELECT total_size FROM repository_stats WHERE host_id = ? ORDER BY day DESC LIMIT 1`, h.ID)
	switch {
	case err == nil:
		st.RepositorySizeBytes = &size
	case !errors.Is(err, sql.ErrNoRows):
		s.log.Warn("monitor: repository size", "host", h.ID, "err", err)
	}
}
