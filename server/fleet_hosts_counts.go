package server

import (
	"context"
	"time"
)

// FleetCounts is the dashboard's summary of the whole fleet (#15): how
// many hosts are connected, offline or never connected, and how many are
// in each health state. It costs one grouped index read and a pass over
// the live presence, whatever the fleet's size.
type FleetCounts struct {
	Total, Online, Offline, NeverConnected int
	// Health counts the hosts per stored health word (fleet_health_store.go).
	Health map[HealthState]int
}

// CountFleet counts the active hosts. Online comes from the live presence
// (exact at once), never-connected from the store corrected by it (a host
// connected for the first time is not flushed yet), and the health words
// from the store.
func (s *Service) CountFleet(ctx context.Context) (FleetCounts, error) {
	c := FleetCounts{Health: make(map[HealthState]int, len(HealthStates))}
	var rows []struct {
		Health HealthState `db:"health"`
		N      int         `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT h.health, COUNT(*) AS n FROM hosts h
		WHERE h.revoked_at IS NULL GROUP BY h.health`); err != nil {
		return c, internal("Could not count the hosts", err)
	}
	for _, r := range rows {
		c.Health[r.Health] += r.N
		c.Total += r.N
	}
	// Hosts that never connected are few (enrolled, not yet started).
	var never []string
	if err := s.db.SelectContext(ctx, &never, `SELECT h.id FROM hosts h
		WHERE h.revoked_at IS NULL AND h.last_seen IS NULL AND h.online = 0`); err != nil {
		return c, internal("Could not count the hosts", err)
	}
	seen := s.presence.seenSince(never)
	c.NeverConnected = len(never) - seen
	c.Online = s.presence.onlineCount()
	c.Offline = max(0, c.Total-c.Online-c.NeverConnected)
	return c, nil
}

// onlineCount is how many hosts are connected now.
func (p *Presence) onlineCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, hp := range p.hosts {
		if hp.online {
			n++
		}
	}
	return n
}

// seenSince counts the hosts among ids that the live presence has heard
// from (their row may not say so until the next flush).
func (p *Presence) seenSince(ids []string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	var zero time.Time
	for _, id := range ids {
		if hp := p.hosts[id]; hp != nil && (hp.online || hp.lastSeen != zero) {
			n++
		}
	}
	return n
}
