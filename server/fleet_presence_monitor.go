package server

import (
	"context"
	"slices"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Start prepares presence for a fresh server process: no host is connected
// yet, so every host is stored offline, and (the broker keeps no retained
// messages across restarts) the retained monitor state of every host is to
// be published again. Call it after the broker is listening and
// SetPublisher. The republish is Run's (runRepublisher): Start returns
// once the hosts are offline, so the web serves from the first second
// instead of after the whole fleet's states (23-28 s at 5,000 hosts).
//
// With an external broker (SetExternalBroker) the agents stayed connected
// to it meanwhile, and other replicas may be running: the stored presence
// is taken over instead (adopt).
func (p *Presence) Start(ctx context.Context) error {
	p.mu.Lock()
	external := p.external
	p.mu.Unlock()
	if external {
		if err := p.adopt(ctx); err != nil {
			return err
		}
		p.askRepublish()
		return nil
	}
	if _, err := p.s.db.ExecContext(ctx, `UPDATE hosts SET online = 0 WHERE online = 1`); err != nil {
		return internal("Could not reset host presence", err)
	}
	// The broker listens already: in a restart storm the quickest agents
	// connected, and a flush may have stored them online, before the reset
	// above. The next flush stores them online again; hosts connecting
	// from now on are flushed anyway. (touch: their state did not change,
	// so no monitor event; the republisher publishes their state.)
	p.mu.Lock()
	for id, hp := range p.hosts {
		if hp.online {
			p.touch(id)
		}
	}
	p.mu.Unlock()
	p.askRepublish()
	return nil
}

// askRepublish asks runRepublisher for a republish now.
func (p *Presence) askRepublish() {
	select {
	case p.republishNow <- struct{}{}:
	default: // one is asked for already
	}
}

// adopt takes the hosts the store has online as online, on the connection
// (conn_gen) their last hello named: an external broker kept them
// connected while this server was down, and other replicas may be keeping
// them online in the store right now, which a reset would undo. A host
// heard from already since the subscriptions began keeps what it said. A
// host that went away meanwhile is caught by the sweep, OfflineAfter from
// now, unless its Will or a heartbeat says more first.
func (p *Presence) adopt(ctx context.Context) error {
	var rows []struct {
		ID          string     `db:"id"`
		ConnGen     uint64     `db:"conn_gen"`
		LastSeen    *time.Time `db:"last_seen"`
		ConnectedAt *time.Time `db:"connected_at"`
		Remote      string     `db:"remote_addr"`
	}
	if err := p.s.db.SelectContext(ctx, &rows, `SELECT id, conn_gen, last_seen, connected_at, remote_addr FROM hosts
		WHERE online = 1 AND revoked_at IS NULL`); err != nil {
		return internal("Could not load host presence", err)
	}
	now := p.s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rows {
		if _, heard := p.hosts[r.ID]; heard {
			continue
		}
		hp := &hostPresence{conn: r.ConnGen, online: true, remote: r.Remote, adopted: now}
		if r.LastSeen != nil {
			hp.lastSeen = *r.LastSeen
		}
		if r.ConnectedAt != nil {
			hp.connectedAt = *r.ConnectedAt
		}
		p.hosts[r.ID] = hp
	}
	return nil
}

// runRepublisher republishes the monitor states when Start asks and every
// RepublishEvery, on its own goroutine: a fleet's states take long enough
// to delay presence flushes. Only the leader republishes (core_cluster.go):
// the retained states are the fleet's, read from the one store, and one
// copy of each is enough. A replica asked while it does not lead waits
// until it does (on SQLite the one process leads as soon as Run runs), so
// the republish a replica's start asked for is done by the next leader
// if another one leads now; a leader that loses the lease stops at the
// next batch.
func (p *Presence) runRepublisher(ctx context.Context) {
	t := time.NewTicker(p.opts.RepublishEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.republishNow:
		case <-t.C:
		}
		select {
		case <-ctx.Done():
			return
		case <-p.s.cluster.whenLeading():
		}
		if err := p.republish(ctx); err != nil && ctx.Err() == nil {
			p.s.log.Error("monitor: republish", "err", err)
		}
	}
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
	for batch := range slices.Chunk(hosts, monitorBatch) {
		if ctx.Err() != nil || p.isStopping() || !p.s.Leading() {
			return nil // stopping, or another replica leads now
		}
		ids := make([]string, len(batch))
		for i := range batch {
			ids[i] = batch[i].ID
		}
		p.publishStatesNow(pub, batch, p.s.monitorFactsOf(ctx, ids))
	}
	p.s.syncHAConfigs(ctx, "") // Home Assistant's configs expire too (fleet_ha.go)
	return nil
}

// publishStatesNow publishes the retained monitor state of each of hosts
// with its facts, online as it is now — not when the hosts were read (a
// fleet's list is seconds old by its end), and not between a flush's read
// of a change and its publish (monitorMu).
func (p *Presence) publishStatesNow(pub Publisher, hosts []Host, facts map[string]*monitorFacts) {
	for i := range hosts {
		h := &hosts[i]
		p.monitorMu.Lock()
		p.s.publishMonitorState(pub, monitorStateOf(h, p.isOnline(h.ID), facts[h.ID]))
		p.monitorMu.Unlock()
	}
}

// monitorStateOf is a host's retained monitor state: online or offline,
// its newest backup, its last success and overdue (from its health,
// fleet_health.go) and its repository's size.
func monitorStateOf(h *Host, online bool, f *monitorFacts) *topics.MonitorHostState {
	state := &topics.MonitorHostState{Envelope: topics.NewEnvelope(topics.TypeMonitorHost, h.ID), Name: h.Name,
		Online: online, LastSeen: h.LastSeen, Status: topics.StateOffline,
		LastSuccessAt: h.LastSuccessAt, Overdue: h.Overdue}
	if online {
		state.Status = topics.StateOnline
	}
	if f == nil {
		return state
	}
	if b := f.last; b != nil {
		at := b.At
		state.LastBackup, state.LastBackupStatus, state.LastBackupJob = &at, string(b.Status), b.ID
	}
	state.RepositorySizeBytes = f.size
	return state
}

// publishMonitorState publishes a host's retained monitor state.
func (s *Service) publishMonitorState(pub Publisher, state *topics.MonitorHostState) {
	b, err := topics.Encode(state)
	if err != nil {
		s.log.Error("monitor: encode host state", "host", state.Host, "err", err)
		return
	}
	if err := pub.Publish(topics.MonitorHostTopic(state.Host), b, true, 1); err != nil {
		s.log.Warn("monitor: publish host state", "host", state.Host, "err", err)
	}
}
