package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxPacketSize            = 256 << 10 // bytes; the largest packet we expect is a log batch
	DefaultConnectTimeout           = 10 * time.Second
	DefaultMaxConnsPerAddrPerMinute = 120
	DefaultMaxAuthFailuresPerAddr   = 20
	// DefaultSessionExpiry keeps a disconnected host's session, and the QoS 1
	// commands queued in it, for 8 days: a host offline for a week still
	// gets them when it comes back.
	DefaultSessionExpiry = 8 * 24 * time.Hour
	// DefaultMaxPendingPerAddr and DefaultMaxPending cap the pending (p_)
	// clients connected at once, from one address and in all.
	DefaultMaxPendingPerAddr = 32
	DefaultMaxPending        = 1000
	// DefaultMaxPendingKeepalive is the longest keepalive a pending client
	// may ask for (the agent asks for 30 s).
	DefaultMaxPendingKeepalive = 300 * time.Second
	// DefaultMaxClientWritesPending is how many packets may wait for one
	// client's connection (see Config.MaxClientWritesPending).
	DefaultMaxClientWritesPending = 256
	// AuthFailureWindow is the window MaxAuthFailuresPerAddr counts in, and
	// how long an address stays refused once it reached the limit.
	AuthFailureWindow = 5 * time.Minute
)

// Config configures a Broker. Zero values take the defaults above.
type Config struct {
	// TCPAddr is the plain MQTT listener, e.g. "127.0.0.1:1883" or
	// "127.0.0.1:0" (see Broker.TCPAddr for the bound port); "" = off.
	TCPAddr string
	// TLSAddr is the MQTT-over-TLS listener; "" = off.
	TLSAddr string
	// TLSConfig is required when TLSAddr is set.
	TLSConfig *tls.Config
	// MaxPacketSize bounds every inbound packet, CONNECT included; a client
	// sending a larger one is disconnected. Default 256 KiB.
	MaxPacketSize int
	// ConnectTimeout is how long a new connection (including its TLS
	// handshake) may take to send CONNECT. Default 10 s.
	ConnectTimeout time.Duration
	// MaxConnsPerAddrPerMinute limits connection attempts per source IP.
	// Default 120; negative disables. Many agents behind one NAT share an IP.
	MaxConnsPerAddrPerMinute int
	// MaxAuthFailuresPerAddr is how many refused CONNECTs an IP may cause in
	// AuthFailureWindow; after that it is refused at accept for
	// AuthFailureWindow. Default 20; negative disables.
	MaxAuthFailuresPerAddr int
	// SessionExpiry is how long a disconnected persistent session (MQTT 3.1.1
	// clean session off, or MQTT 5 with an expiry) and the messages queued in
	// it are kept. It is also the broker's maximum message expiry, which
	// applies to retained messages too. Default 8 days.
	SessionExpiry time.Duration
	// MaxPendingPerAddr caps the pending (announce) clients connected at
	// once from one source IP; one more is refused with "server
	// unavailable" and retries later. Default 32; negative disables.
	MaxPendingPerAddr int
	// MaxPending caps the pending clients connected at once in all.
	// Default 1000; negative disables.
	MaxPending int
	// MaxPendingKeepalive is the longest MQTT keepalive a pending client may
	// ask for; keepalive 0 (never time out) is refused too. Default 300 s.
	MaxPendingKeepalive time.Duration
	// MaxClientWritesPending is how many packets may wait for one client's
	// connection to take them; one more is dropped (a QoS 1 message with
	// it: the server resends what matters after the next hello, and an
	// agent what the server did not acknowledge). Mochi allocates the
	// queue per client at connect, 8 bytes a slot whether used or not: its
	// default of 8,192 was 64 KiB per agent, most of the server's memory at
	// 5,000 agents. An agent is sent a few packets at a time (an ack per
	// ingest batch, its config and commands after hello), so the default
	// is 256 (2 KiB). The monitor states do not go through this queue:
	// the retained ones a monitoring client gets when it subscribes, and
	// every state the server publishes (the 6-hourly republish of the
	// whole fleet, a storm's presence changes), are sent by the broker
	// paced by the client's connection (monitor_replay.go), so a fleet of
	// more hosts than this needs no larger queue; only the monitor events
	// (QoS 0) still do. Default 256; at most 65,536.
	MaxClientWritesPending int
	// MaxHandshakes caps the connections in progress at once: from their
	// first bytes through the TLS handshake to the decision on their
	// CONNECT. Others wait in line, unread, for up to ConnectTimeout
	// (admission.go). A slot is also held while the client's next TLS
	// flight and its CONNECT are on the way, a round trip or two, so the
	// cap must cover the arrival rate times that (at 16 per CPU, a restart
	// storm of 1,000 agents on the loaded 2-core machine took twice as
	// long in one pair of runs: docs/scale.md). Default 128 per CPU;
	// negative disables.
	MaxHandshakes int
	// MaxHandshakesPerAddr caps the slots one source IP holds at once.
	// Default a quarter of MaxHandshakes; negative disables.
	MaxHandshakesPerAddr int
	// Logger receives the broker's log lines; nil discards them.
	Logger *slog.Logger
	// OnConnect is called after a client authenticated and its session is
	// established, before any of its packets is processed. conn is the
	// connection's serial: serials grow in the order connections were
	// accepted, and Message.Conn carries them too.
	OnConnect func(id Identity, conn uint64, remote string)
	// OnDisconnect is called exactly once for every OnConnect, when that
	// connection ends for any reason.
	//
	// Calls for different connections of one client ID are not ordered. After
	// a session takeover the old connection's OnDisconnect may come before or
	// after the new one's OnConnect, and even the old connection's OnConnect
	// may come after the new one's (mochi sends CONNACK before reporting, and
	// the takeover can happen in between). A consumer must keep, per client
	// ID, the highest serial it has seen: OnConnect of a lower serial, and
	// OnDisconnect or a Will (Message.Conn) of any other serial, are stale.
	// Both callbacks run on the client's goroutine and must not block long.
	OnDisconnect func(id Identity, conn uint64)

	// now is the clock of the TLS ticket keys' periods (tests move it).
	now func() time.Time
	// admissionWait is how long a connection waits for an admission slot;
	// ConnectTimeout (tests set it apart).
	admissionWait time.Duration
}

func (c *Config) applyDefaults() error {
	if c.TLSAddr != "" && c.TLSConfig == nil {
		return errors.New("broker: TLSAddr is set but TLSConfig is nil")
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	if c.MaxPacketSize < 0 || c.MaxPacketSize > 256<<20 {
		return fmt.Errorf("broker: MaxPacketSize %d out of range (1 B to 256 MiB)", c.MaxPacketSize)
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxConnsPerAddrPerMinute == 0 {
		c.MaxConnsPerAddrPerMinute = DefaultMaxConnsPerAddrPerMinute
	}
	if c.MaxAuthFailuresPerAddr == 0 {
		c.MaxAuthFailuresPerAddr = DefaultMaxAuthFailuresPerAddr
	}
	if c.SessionExpiry == 0 {
		c.SessionExpiry = DefaultSessionExpiry
	}
	if c.SessionExpiry < time.Second || c.SessionExpiry.Seconds() > math.MaxUint32 {
		return fmt.Errorf("broker: SessionExpiry %s out of range", c.SessionExpiry)
	}
	if c.MaxPendingPerAddr == 0 {
		c.MaxPendingPerAddr = DefaultMaxPendingPerAddr
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxPendingKeepalive == 0 {
		c.MaxPendingKeepalive = DefaultMaxPendingKeepalive
	}
	if c.MaxPendingKeepalive < time.Second || c.MaxPendingKeepalive > math.MaxUint16*time.Second {
		return fmt.Errorf("broker: MaxPendingKeepalive %s out of range (1 s to 65535 s)", c.MaxPendingKeepalive)
	}
	if c.MaxClientWritesPending == 0 {
		c.MaxClientWritesPending = DefaultMaxClientWritesPending
	}
	if c.MaxClientWritesPending < 1 || c.MaxClientWritesPending > 1<<16 {
		return fmt.Errorf("broker: MaxClientWritesPending %d out of range (1 to 65536)", c.MaxClientWritesPending)
	}
	if c.MaxHandshakes == 0 {
		c.MaxHandshakes = 128 * runtime.GOMAXPROCS(0)
	}
	if c.MaxHandshakesPerAddr == 0 {
		c.MaxHandshakesPerAddr = max(1, c.MaxHandshakes/4)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.admissionWait <= 0 {
		c.admissionWait = c.ConnectTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return nil
}

// Broker is the embedded MQTT broker: mochi with our listeners and hooks.
type Broker struct {
	cfg  Config
	auth Authenticator
	log  *slog.Logger
	srv  *mqtt.Server

	tcp, tls     *listener
	connAttempts *addrLimiter
	authFails    *addrLimiter
	pendingSlots *pendingSlots
	admission    *admission
	serial       atomic.Uint64 // last connection serial handed out
	closing      atomic.Bool   // Close has begun
	subID        atomic.Int64  // last inline subscription id
	stats        counters
	replays      *replays // monitors' retained replays (monitor_replay.go)

	startOnce, closeOnce sync.Once
	startErr             error
}

// New builds a broker; Start makes it listen. auth checks every CONNECT.
func New(cfg Config, auth Authenticator) (*Broker, error) {
	if auth == nil {
		return nil, errors.New("broker: an Authenticator is required")
	}
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:          cfg,
		auth:         auth,
		log:          cfg.Logger.With("component", "broker"),
		connAttempts: newAddrLimiter(cfg.MaxConnsPerAddrPerMinute, time.Minute),
		authFails:    newAddrLimiter(cfg.MaxAuthFailuresPerAddr, AuthFailureWindow),
		pendingSlots: newPendingSlots(cfg.MaxPendingPerAddr, cfg.MaxPending),
		admission:    newAdmission(cfg.MaxHandshakes, cfg.MaxHandshakesPerAddr),
	}
	b.replays = newReplays(b)
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities: mochiCapabilities(cfg),
		InlineClient: true,
		Logger:       newMochiLogger(cfg.Logger),
		// $SYS topics are readable by no network client (ACL); publishing
		// them every second (mochi's default) only costs a ReadMemStats.
		SysTopicResendInterval: 600,
		// The read buffering is the listeners' (conn.go).
		ClientNetReadBufferSize: mochiReadBuffer,
	})
	for _, h := range []mqtt.Hook{&authHook{b: b}, &subscribeHook{b: b}, &aclHook{b: b}, &originHook{b: b}, &presenceHook{b: b}, &replayHook{rs: b.replays}} {
		if err := b.srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("broker: add %s hook: %w", h.ID(), err)
		}
	}
	return b, nil
}

// mochiCapabilities are mochi's defaults with our limits. Mochi's default
// MaximumMessageExpiryInterval is one day, and it drops a queued (inflight)
// message older than that even for an MQTT 3.1.1 client
// (clients.go ClearExpiredInflights "enforced"), so it is raised to the
// session expiry. For 3.1.1 clients mochi expires a disconnected persistent
// session after MaximumSessionExpiryInterval (server.go clearExpiredClients);
// its default is MaxUint32 seconds, i.e. never.
func mochiCapabilities(cfg Config) *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumPacketSize = uint32(cfg.MaxPacketSize)
	c.MaximumSessionExpiryInterval = uint32(cfg.SessionExpiry / time.Second)
	c.MaximumMessageExpiryInterval = int64(cfg.SessionExpiry / time.Second)
	c.MaximumClientWritesPending = int32(cfg.MaxClientWritesPending)
	return c
}

// Start binds the configured listeners and starts serving. It may be called
// once; a failed Start leaves nothing bound.
func (b *Broker) Start() error {
	b.startOnce.Do(func() { b.startErr = b.start() })
	return b.startErr
}

func (b *Broker) start() error {
	if b.cfg.TCPAddr != "" {
		b.tcp = newListener(b, "tcp", b.cfg.TCPAddr, nil)
		if err := b.srv.AddListener(b.tcp); err != nil {
			return err
		}
	}
	if b.cfg.TLSAddr != "" {
		b.tls = newListener(b, "tls", b.cfg.TLSAddr, b.cfg.TLSConfig)
		if err := b.srv.AddListener(b.tls); err != nil {
			b.closeListeners()
			return err
		}
	}
	if err := b.srv.Serve(); err != nil {
		b.closeListeners()
		return fmt.Errorf("broker: start: %w", err)
	}
	b.log.Info("broker listening", "tcp", addrString(b.TCPAddr()), "tls", addrString(b.TLSAddr()),
		"max_packet", b.cfg.MaxPacketSize, "session_expiry", b.cfg.SessionExpiry,
		"max_handshakes", b.cfg.MaxHandshakes, "tls_tickets_survive_restart", b.tls != nil && b.tls.tickets.derived())
	return nil
}

func (b *Broker) closeListeners() {
	for _, l := range []*listener{b.tcp, b.tls} {
		if l != nil && l.ln != nil {
			_ = l.ln.Close()
		}
	}
}

// TCPAddr returns the bound plain listener address (port 0 resolved), or nil.
func (b *Broker) TCPAddr() net.Addr { return b.tcp.addr() }

// TLSAddr returns the bound TLS listener address (port 0 resolved), or nil.
func (b *Broker) TLSAddr() net.Addr { return b.tls.addr() }

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// Close disconnects every client, stops the listeners and waits for the
// connection goroutines. It is safe to call more than once.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.closing.Store(true)
		if err = b.srv.Close(); err != nil {
			err = fmt.Errorf("broker: close: %w", err)
		}
		b.log.Info("broker stopped")
	})
	return err
}

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats {
	s := b.stats.snapshot()
	s.HandshakesQueued = b.admission.queued.Load()
	return s
}
