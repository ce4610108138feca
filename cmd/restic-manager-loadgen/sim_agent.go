package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/restic-manager/restic-manager/agent/tlssession"
	"github.com/restic-manager/restic-manager/topics"
)

// MQTT timings of a simulated agent: the real agent's (agent/session.go).
const (
	simKeepAlive   = 30 * time.Second
	simPingTimeout = 10 * time.Second
	simConnTimeout = 15 * time.Second
	simAckTimeout  = 20 * time.Second
	// simRefusedRetry is the wait after the broker refused the credentials
	// (agent.DefaultRefusedRetry): a storm that refuses real agents this
	// way leaves them behind for that long, so the loadgen must too.
	simRefusedRetry = 10 * time.Minute
)

// simFleet is what every simulated agent of one process shares: where the
// broker is, how to reach it, the timings, and where the agents report.
type simFleet struct {
	broker         *url.URL
	tls            *tls.Config // nil: plain MQTT
	heartbeat      time.Duration
	backoffInitial time.Duration
	backoffMax     time.Duration
	resendAfter    time.Duration
	lineBytes      int
	ingest         ingestParams // set once by the parent before jobs come
	ingestMu       sync.Mutex
	records        *jobRecords
	// established is called each time an agent's hello is acknowledged.
	established func(a *simAgent)
	logf        func(format string, args ...any)

	errMu        sync.Mutex
	connectErrs  int
	firstConnErr string
	refused      int

	// handshakes counts the agents' TLS handshakes, resumed those that
	// resumed a session (a ticket from the agent's own cache).
	handshakes, resumed atomic.Int64
}

// connectFailed counts a connection attempt that failed before hello was
// acknowledged, keeping the first reason for the report.
func (f *simFleet) connectFailed(err error) {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	f.connectErrs++
	if refusedCredentials(err) {
		f.refused++
	}
	if f.firstConnErr == "" {
		f.firstConnErr = err.Error()
	}
}

// ingestParams is how an ingest job writes its log.
type ingestParams struct {
	Rate    int           `json:"rate"`            // lines a second
	Seconds time.Duration `json:"seconds"`         // how long
	Flush   string        `json:"flush,omitempty"` // flushSecond ("" too) or flushAgent
}

func (f *simFleet) ingestParams() ingestParams {
	f.ingestMu.Lock()
	defer f.ingestMu.Unlock()
	return f.ingest
}

// simAgent is one simulated agent: a host identity with its credentials,
// speaking the agent's protocol (topics) over its own MQTT connection from
// its own source address. It answers jobs without running restic: events,
// a log at a chosen rate, a result and a snapshot report, all through an
// in-memory outbox that waits for the server's acks.
type simAgent struct {
	fl       *simFleet
	id       string
	password string
	local    *net.TCPAddr
	bootID   string
	started  time.Time
	out      *simOutbox
	queue    chan *simJob
	drop     chan struct{}
	// tlsSessions is the agent's TLS session cache (one per agent, as
	// each real agent is its own process).
	tlsSessions tls.ClientSessionCache

	mu        sync.Mutex
	client    mqtt.Client // the established connection, nil between them
	conn      net.Conn    // its socket, closed abruptly by a drop
	gen       uint64
	applied   int64
	configNew chan struct{} // closed (and replaced) when a newer config is applied
	jobs      map[string]*simJob
	running   string
	snapshots []topics.SnapshotInfo
}

func newSimAgent(fl *simFleet, id, password string, local *net.TCPAddr) *simAgent {
	return &simAgent{fl: fl, id: id, password: password, local: local, bootID: topics.NewMessageID(),
		started: time.Now(), out: newSimOutbox(), queue: make(chan *simJob, 256), drop: make(chan struct{}, 1),
		configNew: make(chan struct{}), jobs: map[string]*simJob{}, tlsSessions: tlssession.NewCache(1)}
}

// run keeps the agent connected until ctx ends, reconnecting with the real
// agent's backoff (doubling, jittered), or at once after a drop.
func (a *simAgent) run(ctx context.Context) {
	go a.runJobs(ctx)
	wait := a.fl.backoffInitial
	for ctx.Err() == nil {
		established, dropped, err := a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if dropped {
			wait = a.fl.backoffInitial
			continue
		}
		if established {
			wait = a.fl.backoffInitial
		} else if err != nil {
			a.fl.connectFailed(err)
			if a.fl.logf != nil {
				a.fl.logf("agent %s: %v", a.id, err)
			}
		}
		d := wait/2 + rand.N(wait/2+1)
		if refusedCredentials(err) {
			d = simRefusedRetry/2 + rand.N(simRefusedRetry/2+1)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		wait = min(2*wait, a.fl.backoffMax)
	}
}

// dropNow closes the connection without DISCONNECT, as a crash or a cut
// cable would: the broker publishes the Will. The agent reconnects at once.
func (a *simAgent) dropNow() {
	select {
	case a.drop <- struct{}{}:
	default:
	}
}

// session is one connection: CONNECT with a Will, SUBSCRIBE down/#, hello,
// a status, the outbox again, then heartbeats until it ends.
func (a *simAgent) session(ctx context.Context) (established, dropped bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.gen = uint64(time.Now().UnixNano()) // grows across connections and runs, like the persisted conn_gen
	gen := a.gen
	a.mu.Unlock()
	will, err := topics.Encode(a.status(topics.StateOffline, gen))
	if err != nil {
		return false, false, err
	}
	lost := make(chan error, 1)
	opts := mqtt.NewClientOptions().AddBroker(a.fl.broker.String()).
		SetClientID(a.id).SetUsername(a.id).SetPassword(a.password).
		SetProtocolVersion(4).SetCleanSession(false).
		SetKeepAlive(simKeepAlive).SetPingTimeout(simPingTimeout).SetConnectTimeout(simConnTimeout).
		SetWriteTimeout(simAckTimeout).SetAutoReconnect(false).SetConnectRetry(false).
		SetStore(mqtt.NewMemoryStore()).
		SetCustomOpenConnectionFn(a.dialer(sctx)).
		SetBinaryWill(topics.StatusTopic(a.id), will, 1, false).
		SetDefaultPublishHandler(a.handleDown).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	client := mqtt.NewClient(opts)
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		cancel()
		<-tok.Done()
		client.Disconnect(0)
		return false, false, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return false, false, fmt.Errorf("connect: %w", err)
	}
	defer client.Disconnect(0)
	sub := client.Subscribe(topics.HostDownFilter(a.id), 1, nil)
	if err := waitToken(ctx, sub, lost); err != nil {
		return false, false, fmt.Errorf("subscribe: %w", err)
	}
	if granted := sub.(*mqtt.SubscribeToken).Result()[topics.HostDownFilter(a.id)]; granted > 2 {
		return false, false, errors.New("subscribe: refused by the broker's ACL")
	}
	hello, err := topics.Encode(a.hello(gen))
	if err != nil {
		return false, false, err
	}
	if err := waitToken(ctx, client.Publish(topics.HelloTopic(a.id), 1, false, hello), lost); err != nil {
		return false, false, fmt.Errorf("hello: %w", err)
	}
	a.mu.Lock()
	a.client = client
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.client, a.conn = nil, nil
		a.mu.Unlock()
	}()
	a.fl.established(a)
	a.publishStatus(client)
	a.out.republish(client, time.Now().Add(time.Hour))
	beat := time.NewTicker(a.fl.heartbeat)
	defer beat.Stop()
	resend := time.NewTicker(max(a.fl.resendAfter/4, 10*time.Millisecond))
	defer resend.Stop()
	for {
		select {
		case <-ctx.Done():
			client.Disconnect(250) // clean: the broker discards the Will
			return true, false, ctx.Err()
		case err := <-lost:
			return true, false, err
		case <-a.drop:
			a.mu.Lock()
			if a.conn != nil {
				a.conn.Close()
			}
			a.mu.Unlock()
			return true, true, nil
		case <-beat.C:
			a.publishStatus(client)
		case <-resend.C:
			a.out.republish(client, time.Now().Add(-a.fl.resendAfter))
		}
	}
}

// dialer opens the connection from the agent's own source address, then
// TLS trusting the server's CA only, as agent/dial.go does.
func (a *simAgent) dialer(ctx context.Context) mqtt.OpenConnectionFunc {
	return func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		d := net.Dialer{Timeout: simConnTimeout, KeepAlive: simKeepAlive}
		if a.local != nil {
			d.LocalAddr = a.local
		}
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { conn.Close() })
		if a.fl.tls != nil {
			// The agent's own session cache, as agent/dial.go: its
			// reconnects resume the session its last connection's
			// ticket names (also after a server restart), its first
			// connection is a full handshake.
			cfg := a.fl.tls.Clone()
			cfg.ClientSessionCache = a.tlsSessions
			tc := tls.Client(conn, cfg)
			hctx, stop := context.WithTimeout(ctx, simConnTimeout)
			defer stop()
			if err := tc.HandshakeContext(hctx); err != nil {
				conn.Close()
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			a.fl.handshakes.Add(1)
			if tc.ConnectionState().DidResume {
				a.fl.resumed.Add(1)
			}
			conn = tc
		}
		a.mu.Lock()
		a.conn = conn
		a.mu.Unlock()
		return conn, nil
	}
}

func (a *simAgent) hello(gen uint64) *topics.Hello {
	a.mu.Lock()
	defer a.mu.Unlock()
	var unfinished []string
	for id, j := range a.jobs {
		if !j.finished && len(unfinished) < 1000 {
			unfinished = append(unfinished, id)
		}
	}
	return &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, a.id), AgentVersion: simAgentVersion,
		ResticVersion: "0.18.1", OS: "linux", Arch: "amd64", Hostname: "loadgen", BootID: a.bootID, ConnGen: gen,
		ConfigVersion: a.applied, Jobs: unfinished, OutboxHigh: a.out.high()}
}

func (a *simAgent) status(state string, gen uint64) *topics.Status {
	m := &topics.Status{Envelope: topics.NewEnvelope(topics.TypeStatus, a.id), State: state, BootID: a.bootID, ConnGen: gen}
	if state == topics.StateOnline {
		a.mu.Lock()
		m.UptimeSeconds = int64(time.Since(a.started).Seconds())
		m.ConfigVersion = a.applied
		if a.running != "" {
			m.Running = []string{a.running}
		}
		a.mu.Unlock()
	}
	return m
}

// publishStatus sends an "online" heartbeat (QoS 0, not waited for).
func (a *simAgent) publishStatus(client mqtt.Client) {
	a.mu.Lock()
	gen := a.gen
	a.mu.Unlock()
	if data, err := topics.Encode(a.status(topics.StateOnline, gen)); err == nil {
		client.Publish(topics.StatusTopic(a.id), 0, false, data)
	}
}

// currentClient is the established connection, or nil.
func (a *simAgent) currentClient() mqtt.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.client
}

// refusedCredentials reports whether err is the broker refusing the
// credentials (CONNACK 0x04 or 0x05), which the real agent answers with a
// long wait (agent/backoff.go retryDelay).
func refusedCredentials(err error) bool {
	return errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised)
}

// waitToken waits for a paho token, a lost connection, ctx or simAckTimeout.
func waitToken(ctx context.Context, tok mqtt.Token, lost <-chan error) error {
	t := time.NewTimer(simAckTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case err := <-lost:
		return fmt.Errorf("connection lost: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no answer from the broker within %s", simAckTimeout)
	}
}
