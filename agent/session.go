package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/restic-manager/restic-manager/topics"
)

// MQTT timings. The keepalive makes a silently dead link (NAT timeout, pulled
// cable) visible within about 1.5 keepalives, on both sides.
const (
	keepAlive      = 30 * time.Second
	pingTimeout    = 10 * time.Second
	connectTimeout = 15 * time.Second
	ackTimeout     = 20 * time.Second // SUBACK, PUBACK of hello
	quiesce        = 500              // ms a clean Disconnect waits for in-flight work
)

// session is one connection attempt and, if it succeeds, the life of that
// connection. Each gets a fresh paho client with AutoReconnect off: the
// agent's loop owns reconnecting so that every connection has its own
// conn_gen in its Last Will and hello, which paho's built-in reconnect (one
// fixed Will) cannot give.
//
// Each client also gets a fresh in-memory store. Sharing one across clients
// would make paho resend an unacknowledged QoS 1 message of the previous
// connection, such as a hello with a stale conn_gen, and paho may still
// close the store from the old client's goroutines after Disconnect
// returns. Messages that must survive a lost connection go through the
// agent's durable outbox instead (sender.go publishes it again on every
// connection); the broker keeps our subscription and queues QoS 1 down
// messages thanks to CleanSession(false).
type session struct {
	agent         *Agent
	gen           uint64
	resticVersion string
	// established is set once connect, subscribe and hello all succeeded.
	established bool
}

// failureVerb says, for the log, whether a connection was lost or never made.
func (s *session) failureVerb() string {
	if s.established {
		return "disconnected; retrying"
	}
	return "cannot connect; retrying"
}

// run connects, announces and keeps the connection until it is lost or ctx
// is done (then after a clean DISCONNECT). It always returns why it ended.
func (s *session) run(ctx context.Context) error {
	a := s.agent
	dialCtx, cancelDial := context.WithCancel(context.Background())
	// Closing every connection this session opened is what guarantees that
	// nothing of it outlives run, whatever state paho is in.
	defer cancelDial()

	will, err := topics.Encode(s.status(topics.StateOffline))
	if err != nil {
		return fmt.Errorf("encode last will: %w", err)
	}
	lost := make(chan error, 1)
	opts := sessionOptions(a.broker, a.cfg.HostID, a.cfg.MQTTPassword, a.dialer(dialCtx), lost).
		SetBinaryWill(topics.StatusTopic(a.cfg.HostID), will, 1, false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { a.handleDown(m) })
	client := mqtt.NewClient(opts)
	tok, err := connectSession(ctx, client, cancelDial)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return describeConnectError(err)
	}
	sessionPresent := tok.SessionPresent()

	if err := s.subscribe(ctx, client, lost); err != nil {
		client.Disconnect(quiesce)
		return err
	}
	if err := s.publishHello(ctx, client, lost); err != nil {
		// Also when ctx was cancelled mid-handshake: a clean DISCONNECT,
		// so a stop is not mistaken for a crash by the server.
		client.Disconnect(quiesce)
		return err
	}
	s.established = true
	a.connected.Store(true)
	a.log.Info("connected", "broker", a.broker.String(), "conn_gen", s.gen, "session_present", sessionPresent)
	// After hello, so the server knows this connection before the
	// outbox's backlog arrives; the sender goes through it in seq order.
	a.sender.attach(client)
	defer a.sender.detach(client)
	a.upgradeAfterHello() // #11: a new binary's hello ends its probation; repeat the last upgrade report

	// An "online" status right away keeps the status topic truthful on its
	// own for MQTT tools: after a Will "offline", the next word is "online".
	s.publishStatus(client)
	ticker := time.NewTicker(a.heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			a.connected.Store(false)
			client.Disconnect(quiesce) // clean DISCONNECT: the broker discards the Will
			return ctx.Err()
		case err := <-lost:
			return fmt.Errorf("connection lost: %w", err)
		case <-ticker.C:
			s.publishStatus(client)
		case <-a.statusNow:
			s.publishStatus(client)
		}
	}
}

// subscribe subscribes to this host's down/# with QoS 1 and checks the grant.
func (s *session) subscribe(ctx context.Context, client mqtt.Client, lost <-chan error) error {
	return subscribeChecked(ctx, client, lost, topics.HostDownFilter(s.agent.cfg.HostID), "this host")
}

// subscribeChecked subscribes to filter with QoS 1 (messages go to the
// client's default handler), waits for the SUBACK and checks the broker
// granted it; who names the ACL row for the error.
func subscribeChecked(ctx context.Context, client mqtt.Client, lost <-chan error, filter, who string) error {
	tok := client.Subscribe(filter, 1, nil)
	if err := waitToken(ctx, tok, lost); err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if granted, ok := tok.(*mqtt.SubscribeToken).Result()[filter]; !ok || granted > 2 {
		return fmt.Errorf("subscribe %s: the broker refused the subscription (check the broker's ACL for %s)", filter, who)
	}
	return nil
}

// publishHello sends hello with QoS 1 and waits for the broker's PUBACK.
func (s *session) publishHello(ctx context.Context, client mqtt.Client, lost <-chan error) error {
	a := s.agent
	h := &topics.Hello{
		Envelope:      topics.NewEnvelope(topics.TypeHello, a.cfg.HostID),
		AgentVersion:  Version,
		ResticVersion: s.resticVersion,
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		Hostname:      hostname(),
		BootID:        a.bootID,
		ConnGen:       s.gen,
		ConfigVersion: a.desired.version(),
		Jobs:          a.unfinishedJobs(),
		OutboxHigh:    a.outbox.HighWater(),
	}
	data, err := topics.Encode(h)
	if err != nil {
		return fmt.Errorf("encode hello: %w", err)
	}
	if err := waitToken(ctx, client.Publish(topics.HelloTopic(a.cfg.HostID), 1, false, data), lost); err != nil {
		return fmt.Errorf("publish hello: %w", err)
	}
	return nil
}

// publishStatus sends an "online" heartbeat with QoS 0. A heartbeat that
// cannot be written is not worth waiting for: the next one follows, and a
// dead connection is reported by the connection-lost handler.
func (s *session) publishStatus(client mqtt.Client) {
	data, err := topics.Encode(s.status(topics.StateOnline))
	if err != nil {
		s.agent.log.Error("encode heartbeat", "err", err)
		return
	}
	client.Publish(topics.StatusTopic(s.agent.cfg.HostID), 0, false, data)
}

// status builds a status message of this connection.
func (s *session) status(state string) *topics.Status {
	a := s.agent
	m := &topics.Status{
		Envelope: topics.NewEnvelope(topics.TypeStatus, a.cfg.HostID),
		State:    state,
		BootID:   a.bootID,
		ConnGen:  s.gen,
	}
	if state == topics.StateOnline {
		m.UptimeSeconds = a.uptime()
		m.Running = a.jobs.runningIDs()
		m.ConfigVersion = a.desired.version()
	}
	return m
}

// maxHelloJobs is topics.Hello's bound on the jobs it lists.
const maxHelloJobs = 1000

// unfinishedJobs lists the job ids the journal holds unfinished (waiting
// or running), oldest first, for hello.
func (a *Agent) unfinishedJobs() []string {
	var ids []string
	for _, r := range a.journal.Running() {
		if topics.ValidJobID(r.ID) && len(ids) < maxHelloJobs {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// waitToken waits for a paho token to complete. It also gives up when the
// connection is lost (with a persistent session paho keeps a QoS 1 token
// pending across a loss, for a resend that this design does not use), when
// ctx is done, and after ackTimeout.
func waitToken(ctx context.Context, tok mqtt.Token, lost <-chan error) error {
	t := time.NewTimer(ackTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case err := <-lost:
		return fmt.Errorf("connection lost: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no answer from the broker within %s", ackTimeout)
	}
}

// describeConnectError adds what to do to the broker's refusals.
func describeConnectError(err error) error {
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return fmt.Errorf("the broker refused this host's credentials (%w): the host may have been removed or revoked; re-enroll it", err)
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return fmt.Errorf("the server could not check this host's credentials just now (%w); retrying soon, nothing to do unless it lasts", err)
	}
	return err
}
