package server

import (
	"context"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// PresenceOptions tunes online/offline tracking. Zero values mean defaults.
type PresenceOptions struct {
	// OfflineAfter marks a connected-looking host offline when nothing was
	// heard from it for this long (a half-open TCP connection the broker has
	// not noticed yet). Default 90 s: three missed 30 s heartbeats.
	OfflineAfter time.Duration
	// SweepEvery is how often the offline sweeper runs. Default 10 s.
	SweepEvery time.Duration
	// FlushEvery is how often presence changes are written to SQLite in one
	// transaction. Default 1 s. Reads never wait for it: ListHosts and GetHost
	// overlay the in-memory state.
	FlushEvery time.Duration
	// RepublishEvery is how often the retained monitor state of every host
	// is published again (the broker expires retained messages). Default 6 h.
	RepublishEvery time.Duration
}

// Publisher publishes to the broker; the server's inline MQTT client
// implements it. The domain uses it for the retained monitor topics.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// Presence tracks which hosts are connected. Broker events and messages carry
// the broker's connection serial (conn): only events of a host's current
// connection may change it, so the late disconnect or Will of an old
// connection never marks a host that has already reconnected offline.
//
// State lives in memory and is flushed to SQLite in batches: heartbeats from
// thousands of agents would otherwise be thousands of write transactions.
type Presence struct {
	s    *Service
	opts PresenceOptions

	mu    sync.Mutex
	hosts map[string]*hostPresence
	dirty map[string]bool // host ID -> its online state changed since the last flush
	pub   Publisher

	// ha serialises Home Assistant discovery configs with their setting
	// and with revocations, so none is published after its clear (fleet_ha.go).
	ha sync.Mutex

	// external: presence comes from the agents' own messages through an
	// external broker that outlives this server and that other replicas
	// may share (SetExternalBroker).
	external bool

	// republishNow asks Run's republisher for a republish now (Start).
	republishNow chan struct{}
	// monitorMu orders a flush's monitor state of a host with the
	// republisher's, which runs beside it.
	monitorMu sync.Mutex

	// stopping: the server is stopping (Stopping); guarded by mu.
	stopping bool
}

type hostPresence struct {
	conn        uint64
	online      bool
	lastSeen    time.Time
	connectedAt time.Time
	remote      string
	hello       *topics.Hello // latest hello, written by the next flush
	// adopted is when Start took the host's online state from the store
	// (an external broker): the sweep gives it OfflineAfter from then.
	adopted time.Time
}

func newPresence(s *Service, o PresenceOptions) *Presence {
	if o.OfflineAfter <= 0 {
		o.OfflineAfter = 90 * time.Second
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = 10 * time.Second
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.RepublishEvery <= 0 {
		o.RepublishEvery = 6 * time.Hour
	}
	return &Presence{s: s, opts: o, hosts: make(map[string]*hostPresence), dirty: make(map[string]bool),
		republishNow: make(chan struct{}, 1)}
}

// SetExternalBroker says that presence comes from the agents' own messages
// (conn is their conn_gen) through an external broker, which keeps the
// agents' connections while this server restarts and which other replicas
// may share, each observing the same messages (ingest_replicas.go). Then
// Start takes the stored presence over instead of resetting it, a
// heartbeat or Will of a connection this replica missed the hello of
// counts, the flush never writes over a newer connection's row, and the
// monitor feed hears a change from the replica whose flush made it. Call
// it before Start.
func (p *Presence) SetExternalBroker() {
	p.mu.Lock()
	p.external = true
	p.mu.Unlock()
}

// SetPublisher connects presence to the broker for the monitor topics.
func (p *Presence) SetPublisher(pub Publisher) {
	p.mu.Lock()
	p.pub = pub
	p.mu.Unlock()
}

func (p *Presence) get(id string) *hostPresence {
	hp := p.hosts[id]
	if hp == nil {
		hp = &hostPresence{}
		p.hosts[id] = hp
	}
	return hp
}

// touch marks id for the next flush without claiming its online state changed.
// Caller holds mu.
func (p *Presence) touch(id string) {
	if _, ok := p.dirty[id]; !ok {
		p.dirty[id] = false
	}
}

// setOnline records a state; a change is flushed with a monitor update and
// announced on the bus at once. Caller holds mu.
func (p *Presence) setOnline(id string, hp *hostPresence, online bool) {
	changed := hp.online != online
	hp.online = online
	p.dirty[id] = p.dirty[id] || changed
	if changed && !p.stopping {
		p.s.publishObserved(Event{Kind: EventHostPresence, HostID: id})
	}
}

// Stopping says that the server is stopping: its broker is about to drop
// every agent. From then on a change of presence is still recorded, and
// stored by Run's final flush (one transaction for the whole fleet), but
// announced to no one: no event (the web's streams are closed, and the
// health store and the notifications must not take 10,000 hosts going
// offline for news) and no monitor state (the embedded broker's retained
// states end with it; an external broker's agents stay connected). The
// flushes until then wait for the final one. (The stop's time is not
// theirs: a profile of a 10,000-agent stop holds 1 s of CPU, most of it
// closing sockets; docs/scale.md.)
func (p *Presence) Stopping() {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
}

// isStopping reports whether Stopping was called.
func (p *Presence) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// Connected records that host id opened connection conn from remote. A host
// accepted through announce-and-approve connects for the first time here,
// which ends its pending row.
func (p *Presence) Connected(id string, conn uint64, remote string) {
	p.connected(id, conn, remote)
	p.s.hostArrived(context.Background(), id)
}

func (p *Presence) connected(id string, conn uint64, remote string) {
	now := p.s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	hp := p.get(id)
	if conn < hp.conn {
		return // an older connection's event arriving late
	}
	hp.conn, hp.lastSeen, hp.connectedAt, hp.remote = conn, now, now, remote
	p.setOnline(id, hp, true)
	p.touch(id)
}

// Disconnected records that connection conn of host id ended.
func (p *Presence) Disconnected(id string, conn uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hp := p.hosts[id]
	if hp == nil || hp.conn != conn {
		return
	}
	p.setOnline(id, hp, false)
}

// Hello records an agent's hello on connection conn.
func (p *Presence) Hello(id string, conn uint64, m *topics.Hello) {
	now := p.s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	hp := p.get(id)
	hp.hello = m
	p.touch(id)
	if conn < hp.conn {
		return
	}
	if conn > hp.conn { // hello overtook the connect event
		hp.conn, hp.connectedAt = conn, now
	}
	hp.lastSeen = now
	p.setOnline(id, hp, true)
	p.s.publishObserved(Event{Kind: EventHostUpdated, HostID: id})
}

// Status records a heartbeat or, with state offline, a Last Will.
func (p *Presence) Status(id string, conn uint64, m *topics.Status) {
	now := p.s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	hp := p.get(id)
	if conn > hp.conn && p.external {
		// A connection whose hello this replica did not see (it was
		// reconnecting to the broker, or started after it): the agent
		// sends a conn_gen only once that connection is up.
		hp.conn = conn
		if m.State != topics.StateOffline {
			hp.connectedAt = now
		}
	}
	if conn != hp.conn {
		return
	}
	if m.State == topics.StateOffline {
		p.setOnline(id, hp, false)
		return
	}
	hp.lastSeen = now
	p.touch(id)
	p.setOnline(id, hp, true)
}

// forget drops a host's live presence (it was revoked).
func (p *Presence) forget(id string) {
	p.mu.Lock()
	delete(p.hosts, id)
	delete(p.dirty, id)
	p.mu.Unlock()
}

// overlay copies live presence into a host loaded from the store.
func (p *Presence) overlay(h *Host) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hp := p.hosts[h.ID]
	if hp == nil {
		return
	}
	h.Online = hp.online
	if !hp.lastSeen.IsZero() {
		t := hp.lastSeen
		h.LastSeen = &t
	}
	if !hp.connectedAt.IsZero() {
		t := hp.connectedAt
		h.ConnectedAt = &t
		h.RemoteAddr = hp.remote
	}
	if m := hp.hello; m != nil {
		h.Hostname, h.OS, h.Arch, h.AgentVersion, h.ResticVersion = m.Hostname, m.OS, m.Arch, m.AgentVersion, m.ResticVersion
		h.ConnGen, h.BootID = m.ConnGen, m.BootID
	}
}

// sweep marks hosts offline that have been silent for OfflineAfter.
func (p *Presence) sweep() {
	cutoff := p.s.now().Add(-p.opts.OfflineAfter)
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, hp := range p.hosts {
		if hp.online && hp.lastSeen.Before(cutoff) && hp.adopted.Before(cutoff) {
			p.s.log.Info("host silent, marking offline", "host", id, "last_seen", hp.lastSeen)
			p.setOnline(id, hp, false)
		}
	}
}

// Run flushes and sweeps until ctx ends, then flushes once more.
func (p *Presence) Run(ctx context.Context) {
	watched := make(chan struct{})
	go func() { defer close(watched); p.s.runMonitorWatch(ctx) }() // fleet_ha_watch.go
	defer func() { <-watched }()
	republished := make(chan struct{})
	go func() { defer close(republished); p.runRepublisher(ctx) }()
	defer func() { <-republished }()
	flush := time.NewTicker(p.opts.FlushEvery)
	sweep := time.NewTicker(p.opts.SweepEvery)
	defer flush.Stop()
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := p.Flush(context.Background()); err != nil {
				p.s.log.Error("presence: final flush", "err", err)
			}
			return
		case <-flush.C:
			if p.isStopping() {
				continue // the final flush writes it all at once
			}
			if err := p.Flush(ctx); err != nil {
				p.s.log.Error("presence: flush", "err", err)
			}
		case <-sweep.C:
			p.sweep()
			if err := p.s.pruneSessions(ctx); err != nil {
				p.s.log.Error("sessions: prune", "err", err)
			}
		}
	}
}

// isOnline reports whether host id is connected right now.
func (p *Presence) isOnline(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	hp := p.hosts[id]
	return hp != nil && hp.online
}
