package server

import (
	"context"
	"maps"
	"slices"
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
			// Every hello is a host updated: in a reconnect storm they
			// come by the thousand, so what else is waiting is taken too
			// and published together (fleet_presence_publish.go).
			hosts := map[string]bool{} // host -> its configs too
			resync := false
			for more := true; more && len(hosts) < monitorBatch; {
				switch e.Kind {
				case EventResync:
					resync = true
				case EventHostCreated, EventHostUpdated, EventHostOverdue, EventHostOffline:
					if e.HostID != "" {
						hosts[e.HostID] = hosts[e.HostID] || e.Kind == EventHostCreated || e.Kind == EventHostUpdated
					}
				}
				select {
				case e, more = <-events:
				default:
					more = false
				}
			}
			if resync {
				s.republishMonitor(ctx)
			} else {
				s.refreshMonitorHosts(ctx, hosts)
			}
		}
	}
}

// republishMonitor asks for every host's state and, with discovery on, its
// configs to be published: by the republisher, which runs on the leader
// only (fleet_presence_monitor.go), so several replicas' watches starting
// or resyncing ask for one republish, not one each.
func (s *Service) republishMonitor(context.Context) {
	s.presence.askRepublish()
}

// refreshMonitorHosts publishes the state of hosts (host -> configs too)
// and, for those with configs set when discovery is on, their discovery
// configs. Revoked and unknown hosts are skipped.
func (s *Service) refreshMonitorHosts(ctx context.Context, hosts map[string]bool) {
	pub := s.publisher()
	if pub == nil || len(hosts) == 0 {
		return
	}
	ids := slices.Collect(maps.Keys(hosts))
	list, err := s.ListHostsByID(ctx, ids)
	if err != nil {
		s.log.Warn("monitor: load hosts", "hosts", len(ids), "err", err)
		return
	}
	facts := s.monitorFactsOf(ctx, ids)
	configs := false
	for i := range list {
		h := &list[i]
		s.publishMonitorState(pub, monitorStateOf(h, h.Online, facts[h.ID]))
		configs = configs || hosts[h.ID]
	}
	if !configs || !s.haDiscoveryOn(ctx) { // one read of the setting, not one per host
		return
	}
	for i := range list {
		if hosts[list[i].ID] {
			s.syncHAConfigs(ctx, list[i].ID)
		}
	}
}
