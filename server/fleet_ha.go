package server

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Home Assistant MQTT discovery on the monitor feed (#13), opt-in. When it
// is on, every active host has retained discovery configs under
// topics.HADiscoveryPrefix (a device with five entities reading the host's
// retained monitor state); they are published when a host appears or
// changes name or agent version, at every start and republish, and
// cleared (empty retained messages) when the host is revoked or discovery
// is turned off. docs/monitoring.md shows Home Assistant's side.

// MonitorSettings is the monitor feed's settings, what GET and PUT
// /api/v1/settings/monitor answer and take.
type MonitorSettings struct {
	// HADiscovery publishes Home Assistant discovery configs.
	HADiscovery bool `json:"ha_discovery"`
	// HAPrefix is the discovery prefix the configs are under, to be set
	// as Home Assistant's: always topics.HADiscoveryPrefix, inside the
	// tree monitor accounts may read. A PUT may repeat it or leave it out.
	HAPrefix string `json:"ha_prefix"`
}

const haDiscoveryKey = "monitor.ha_discovery"

// MonitorSettings returns the monitor feed's settings.
func (s *Service) MonitorSettings(ctx context.Context) (MonitorSettings, error) {
	on, err := s.haDiscovery(ctx)
	if err != nil {
		return MonitorSettings{}, internal("Could not read the monitor settings", err)
	}
	return MonitorSettings{HADiscovery: on, HAPrefix: topics.HADiscoveryPrefix}, nil
}

func (s *Service) haDiscovery(ctx context.Context) (bool, error) {
	v, ok, err := s.getSetting(ctx, haDiscoveryKey)
	return ok && string(v) == "1", err
}

// SetMonitorSettings changes the monitor feed's settings (admins; audited
// as settings.monitor when something changes) and publishes or clears the
// discovery configs of every host at once.
func (s *Service) SetMonitorSettings(ctx context.Context, a Actor, in MonitorSettings) (MonitorSettings, error) {
	if err := a.require(PermAdmin); err != nil {
		return MonitorSettings{}, err
	}
	if in.HAPrefix != "" && in.HAPrefix != topics.HADiscoveryPrefix {
		return MonitorSettings{}, invalidf("The discovery prefix is fixed at %s (monitor accounts may read only %s): leave ha_prefix out, and set it as Home Assistant's discovery prefix.",
			topics.HADiscoveryPrefix, topics.MonitorFilter)
	}
	s.presence.ha.Lock()
	defer s.presence.ha.Unlock()
	cur, err := s.MonitorSettings(ctx)
	if err != nil || cur.HADiscovery == in.HADiscovery {
		return cur, err
	}
	v := []byte("0")
	if in.HADiscovery {
		v = []byte("1")
	}
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := writeSetting(ctx, tx, haDiscoveryKey, v, false); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "settings.monitor", "monitor", map[string]any{"ha_discovery": in.HADiscovery})
	})
	if err != nil {
		return cur, internal("Could not save the monitor settings", err)
	}
	s.log.Info("Home Assistant discovery changed", "on", in.HADiscovery, "by", a.Name)
	s.publishHAAll(ctx, in.HADiscovery)
	return MonitorSettings{HADiscovery: in.HADiscovery, HAPrefix: topics.HADiscoveryPrefix}, nil
}

// publishHAAll publishes (on) or clears (off) the discovery configs of
// every active host. The caller holds presence.ha.
func (s *Service) publishHAAll(ctx context.Context, on bool) {
	pub := s.publisher()
	if pub == nil {
		return
	}
	hosts, err := s.ListHosts(ctx)
	if err != nil {
		s.log.Warn("home assistant: list hosts", "err", err)
		return
	}
	for i := range hosts {
		if on {
			s.publishHAConfigs(pub, &hosts[i])
		} else {
			s.clearHAConfigs(pub, hosts[i].ID)
		}
	}
}

// syncHAConfigs publishes the discovery configs of the host hostID, or of
// every active host for "", when discovery is on.
func (s *Service) syncHAConfigs(ctx context.Context, hostID string) {
	pub := s.publisher()
	if pub == nil {
		return
	}
	s.presence.ha.Lock()
	defer s.presence.ha.Unlock()
	if !s.haDiscoveryOn(ctx) {
		return
	}
	if hostID == "" {
		s.publishHAAll(ctx, true)
		return
	}
	h, err := s.GetHost(ctx, hostID) // not a revoked one
	if err != nil {
		if ErrorCodeOf(err) != CodeNotFound {
			s.log.Warn("home assistant: load host", "host", hostID, "err", err)
		}
		return
	}
	s.publishHAConfigs(pub, h)
}

// revokeHAConfigs clears a revoked host's configs, whether discovery is on
// or not (cheap, and never stale).
func (s *Service) revokeHAConfigs(pub Publisher, hostID string) {
	s.presence.ha.Lock()
	defer s.presence.ha.Unlock()
	s.clearHAConfigs(pub, hostID)
}

// haDiscoveryOn reports whether discovery is on (off when unreadable).
func (s *Service) haDiscoveryOn(ctx context.Context) bool {
	on, err := s.haDiscovery(ctx)
	if err != nil {
		s.log.Warn("home assistant: read setting", "err", err)
	}
	return on && err == nil
}

// publishHAConfigs publishes a host's retained discovery configs.
func (s *Service) publishHAConfigs(pub Publisher, h *Host) {
	for topic, c := range topics.HAConfigs(topics.HAHost{ID: h.ID, Name: h.Name, AgentVersion: h.AgentVersion}) {
		b, err := topics.EncodeHAConfig(c)
		if err != nil {
			s.log.Error("home assistant: encode config", "host", h.ID, "err", err)
			return
		}
		if err := pub.Publish(topic, b, true, 1); err != nil {
			s.log.Warn("home assistant: publish config", "host", h.ID, "err", err)
		}
	}
}

// clearHAConfigs removes a host's retained discovery configs (an empty
// retained message each); Home Assistant then removes the entities.
func (s *Service) clearHAConfigs(pub Publisher, hostID string) {
	for _, e := range topics.HAEntities {
		if err := pub.Publish(topics.HAConfigTopic(hostID, e.ID), nil, true, 1); err != nil {
			s.log.Warn("home assistant: clear config", "host", hostID, "err", err)
		}
	}
}
