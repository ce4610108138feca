package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// AnnounceOptions tunes announce-and-approve (DESIGN §4.2). Zero values mean
// the defaults.
type AnnounceOptions struct {
	// TTL is how long a pending host waits for an admin, counted from its
	// first announce, and how long an accepted or rejected one is kept
	// (counted from the decision). Default 24 h.
	TTL time.Duration
	// MaxPending caps the rows in state pending. Default 100. When it is
	// reached a new machine still gets in: the longest-unseen row of the
	// address holding the most rows makes room (fleet_pending_queue.go).
	MaxPending int
	// MaxPendingPerAddr is one source address's share of MaxPending: an
	// address at its share replaces its own longest-unseen row instead of
	// taking others' room. Default (and upper bound) the smaller of 10 and
	// MaxPending/4, at least 1.
	MaxPendingPerAddr int
	// HellosPerAddrPerMinute limits announces per source address. Default 10.
	HellosPerAddrPerMinute int
	// SweepEvery is how often expired rows are deleted (Service.Run).
	// Default 1 min.
	SweepEvery time.Duration
	// ClientTTL is how long a pending client provisioned on an external
	// broker lives after the agent's latest bootstrap request
	// (fleet_announce_bootstrap.go). Default 1 h.
	ClientTTL time.Duration
}

// ChallengeTTL is how long a pending agent has to answer a challenge.
const ChallengeTTL = time.Minute

// Bounds on the open challenges (in the store, fleet_announce_challenges.go)
// and the in-memory connection records, so a flood of pending connections
// from many addresses cannot grow them without limit. Beyond them new
// challenges are not issued (the flood's hellos go unanswered) until old
// ones expire.
const (
	maxChallenges   = 10000
	maxPendingConns = 10000
)

// unknownAddr is the source address of a hello whose connection was never
// reported by PendingConnected: with the embedded broker it should not
// happen (the broker reports a connection before it reads any packet from
// it); on an external broker the report comes from the agent's bootstrap
// request, and another replica may have answered that. Such a hello is
// limited per client (announceHello).
const unknownAddr = "unknown"

// announcer is the in-memory side of announce-and-approve: each pending
// connection's source address, the per-address hello limit, accepted hosts
// that have not connected yet, and where approved agents connect. Rows live
// in the store (fleet_pending_hosts.go), and so do the open challenges, which
// any replica must be able to check (fleet_announce_challenges.go); nothing
// here needs to survive a restart.
type announcer struct {
	opts   AnnounceOptions
	hellos *throttle
	// bootstraps limits bootstrap requests that provision a pending client
	// on an external broker, per source address.
	bootstraps *throttle
	// clientsListed: the broker's own list of pending clients was read
	// once since the start (sweepPendingClients).
	clientsListed atomic.Bool

	// evicted and replaced count the waiting rows dropped to make room
	// since the server started (fleet_pending_queue.go).
	evicted, replaced atomic.Uint64

	// maxOpen caps the open challenges in the store (maxChallenges).
	maxOpen int

	mu       sync.Mutex
	conns    map[string]pendingConn // by pending client ID: its newest connection
	awaiting map[string]bool        // host IDs accepted through announce, not yet connected
	endpoint announceEndpoint
}

// challenge is a nonce sent to one pending client on one connection, with
// the hello it answers.
type challenge struct {
	nonce   []byte
	conn    uint64
	expires time.Time
	hello   *topics.AnnounceHello
	addr    string
}

// pendingConn is where a pending client's connection comes from.
type pendingConn struct {
	conn uint64
	addr string
	at   time.Time
}

// announceEndpoint is what approved credentials carry besides the host's own
// identity (SetAnnounceEndpoint).
type announceEndpoint struct {
	mqttURL       string
	caCertPEM     []byte
	caFingerprint string
}

func newAnnouncer(o AnnounceOptions, now func() time.Time) *announcer {
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 100
	}
	if share := max(1, min(10, o.MaxPending/4)); o.MaxPendingPerAddr <= 0 || o.MaxPendingPerAddr > share {
		o.MaxPendingPerAddr = share
	}
	if o.HellosPerAddrPerMinute <= 0 {
		o.HellosPerAddrPerMinute = 10
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = time.Minute
	}
	if o.ClientTTL <= 0 {
		o.ClientTTL = time.Hour
	}
	return &announcer{opts: o, hellos: newThrottle(o.HellosPerAddrPerMinute, time.Minute, now),
		bootstraps: newThrottle(o.HellosPerAddrPerMinute, time.Minute, now), maxOpen: maxChallenges,
		conns: make(map[string]pendingConn), awaiting: make(map[string]bool)}
}

// SetAnnounceEndpoint sets what approved agents are told besides their host
// identity: the broker URL to use as a host (empty: the broker they announced
// through) and the CA they pin. Call it once at start-up.
func (s *Service) SetAnnounceEndpoint(mqttURL string, caCertPEM []byte, caFingerprint string) {
	a := s.ann
	a.mu.Lock()
	a.endpoint = announceEndpoint{mqttURL: mqttURL, caCertPEM: append([]byte(nil), caCertPEM...), caFingerprint: caFingerprint}
	a.mu.Unlock()
}

// PendingConnected records that pending client clientID opened connection
// conn from remote ("ip:port"). The wiring calls it from the broker's
// OnConnect for pending clients, before any of the connection's messages
// arrive; HandleAnnounce uses it for the per-address limit and to show admins
// where a machine announced from.
func (s *Service) PendingConnected(clientID string, conn uint64, remote string) {
	addr := sourceAddr(remote)
	now := s.now()
	a := s.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.conns[clientID]; ok && old.conn > conn {
		return // a late report of an older connection
	}
	if _, ok := a.conns[clientID]; !ok && len(a.conns) >= maxPendingConns {
		a.pruneLocked(now, 10*time.Minute)
		if len(a.conns) >= maxPendingConns {
			return
		}
	}
	a.conns[clientID] = pendingConn{conn: conn, addr: addr, at: now}
}

// sourceAddr is the address of remote ("ip:port" or "ip"), unknownAddr
// when there is none.
func sourceAddr(remote string) string {
	addr := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		addr = host
	}
	if addr == "" {
		addr = unknownAddr
	}
	return addr
}

// sourceOf is the address connection conn of client came from.
func (a *announcer) sourceOf(client string, conn uint64) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.conns[client]; ok && c.conn == conn {
		return c.addr
	}
	return unknownAddr
}

// await remembers a host accepted through announce until it first connects.
func (a *announcer) await(hostID string) {
	a.mu.Lock()
	a.awaiting[hostID] = true
	a.mu.Unlock()
}

// awaitOnly replaces the hosts awaited with ids (the store's accepted
// rows, read by the pending sweep).
func (a *announcer) awaitOnly(ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.awaiting)
	for _, id := range ids {
		a.awaiting[id] = true
	}
}

// arrived reports whether hostID was awaited, and forgets it.
func (a *announcer) arrived(hostID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.awaiting[hostID] {
		return false
	}
	delete(a.awaiting, hostID)
	return true
}

func (a *announcer) endpointNow() announceEndpoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.endpoint
}

// prune drops connection records older than keep.
func (a *announcer) prune(now time.Time, keep time.Duration) {
	a.mu.Lock()
	a.pruneLocked(now, keep)
	a.mu.Unlock()
}

func (a *announcer) pruneLocked(now time.Time, keep time.Duration) {
	for id, c := range a.conns {
		if now.Sub(c.at) >= keep {
			delete(a.conns, id)
		}
	}
}
