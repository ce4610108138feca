package server

import (
	"context"

	"github.com/restic-manager/restic-manager/topics"
)

// publishMonitor publishes the retained rm/v1/monitor/hosts/{h} state and a
// host.online / host.offline event for MQTT monitoring tools.
func (p *Presence) publishMonitor(ctx context.Context, pub Publisher, id string, online bool) {
	h, err := p.s.GetHost(ctx, id)
	if err != nil {
		p.s.log.Warn("monitor: load host", "host", id, "err", err)
		return
	}
	state := &topics.MonitorHostState{Envelope: topics.NewEnvelope(topics.TypeMonitorHost, id), Name: h.Name,
		Online: online, LastSeen: h.LastSeen, Status: topics.StateOffline}
	if online {
		state.Status = topics.StateOnline
	}
	if b, err := topics.Encode(state); err == nil {
		if err := pub.Publish(topics.MonitorHostTopic(id), b, true, 1); err != nil {
			p.s.log.Warn("monitor: publish host state", "host", id, "err", err)
		}
	}
	evt := &topics.MonitorEvent{Envelope: topics.NewEnvelope(topics.TypeMonitorEvt, id), Event: "host." + state.Status, Name: h.Name}
	if b, err := topics.Encode(evt); err == nil {
		_ = pub.Publish(topics.MonitorEventsTopic(), b, false, 0)
	}
}

// Start prepares presence for a fresh server process: no host is connected
// yet, so every host is stored offline, and (the broker keeps no retained
// messages across restarts) the retained monitor state of every host is
// published again. Call it after the broker is listening and SetPublisher.
func (p *Presence) Start(ctx context.Context) error {
	if _, err := p.s.db.ExecContext(ctx, `UPDATE hosts SET online = 0 WHERE online = 1`); err != nil {
		return internal("Could not reset host presence", err)
	}
	return p.republish(ctx)
}

// republish publishes the retained monitor state of every host. Besides
// start-up it runs every RepublishEvery: the broker expires retained
// messages after its session expiry, and a host that stays online for
// longer would otherwise vanish from monitoring tools.
func (p *Presence) republish(ctx context.Context) error {
	p.mu.Lock()
	pub := p.pub
	p.mu.Unlock()
	if pub == nil {
		return nil
	}
	hosts, err := p.s.ListHosts(ctx)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		state := &topics.MonitorHostState{Envelope: topics.NewEnvelope(topics.TypeMonitorHost, h.ID), Name: h.Name,
			Online: h.Online, LastSeen: h.LastSeen, Status: topics.StateOffline}
		if h.Online {
			state.Status = topics.StateOnline
		}
		if b, err := topics.Encode(state); err == nil {
			_ = pub.Publish(topics.MonitorHostTopic(h.ID), b, true, 1)
		}
	}
	return nil
}
