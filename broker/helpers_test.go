package broker_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
)

// Test identities. Every password and payload used in the tests is
// registered as a secret: the broker's log must never contain one.
const (
	hostA    = "h_alpha"
	hostB    = "h_bravo"
	hostC    = "h_charlie"
	monitor  = "mon_grafana"
	pendingP = "p_pending1"
	pendingQ = "p_pending2"
)

func password(id string) string { return "pw-" + id + "-S3cret" }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// presenceLog records OnConnect / OnDisconnect calls.
type presenceLog struct {
	mu     sync.Mutex
	events []presenceEvent
}

type presenceEvent struct {
	connect bool
	id      broker.Identity
	conn    uint64
}

func (p *presenceLog) add(e presenceEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

func (p *presenceLog) all() []presenceEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]presenceEvent(nil), p.events...)
}

// find returns the serials of the events of id of the given kind.
func (p *presenceLog) find(id string, connect bool) []uint64 {
	var out []uint64
	for _, e := range p.all() {
		if e.id.ID == id && e.connect == connect {
			out = append(out, e.conn)
		}
	}
	return out
}

type testBroker struct {
	*broker.Broker
	auth     *brokertest.StaticAuth
	logs     *syncBuffer
	presence *presenceLog
	addr     string // tcp://127.0.0.1:port
}

// startBroker runs a real broker on 127.0.0.1:0 with the test identities. The
// address limits are off unless mod sets them.
func startBroker(t testing.TB, mod func(*broker.Config)) *testBroker {
	t.Helper()
	tb := &testBroker{auth: brokertest.NewStaticAuth(), logs: &syncBuffer{}, presence: &presenceLog{}}
	for _, id := range []string{hostA, hostB, hostC, monitor, pendingP, pendingQ} {
		ident, err := broker.ParseIdentity(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.auth.Add(ident, password(id)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := broker.Config{
		TCPAddr:                  "127.0.0.1:0",
		MaxConnsPerAddrPerMinute: -1,
		MaxAuthFailuresPerAddr:   -1,
		Logger:                   slog.New(slog.NewTextHandler(tb.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnConnect: func(id broker.Identity, conn uint64, _ string) {
			tb.presence.add(presenceEvent{connect: true, id: id, conn: conn})
		},
		OnDisconnect: func(id broker.Identity, conn uint64) {
			tb.presence.add(presenceEvent{connect: false, id: id, conn: conn})
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := broker.New(cfg, tb.auth)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tb.Broker = b
	if a := b.TCPAddr(); a != nil {
		tb.addr = "tcp://" + a.String()
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		logs := tb.logs.String()
		for _, id := range []string{hostA, hostB, hostC, monitor, pendingP, pendingQ} {
			if strings.Contains(logs, password(id)) {
				t.Errorf("the broker log contains the password of %s", id)
			}
		}
		if strings.Contains(logs, payloadMarker) {
			t.Errorf("the broker log contains a message payload")
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", logs)
		}
	})
	return tb
}

// payloadMarker is part of every payload the tests publish.
const payloadMarker = "PAYLOAD-must-not-be-logged"

func payload(s string) []byte { return []byte(payloadMarker + ":" + s) }

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pahoClient is a real paho 3.1.1 client that records losing its connection.
type pahoClient struct {
	paho.Client
	mu   sync.Mutex
	lost []error
	msgs []paho.Message
}

func (c *pahoClient) lostCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lost)
}

func (c *pahoClient) messages() []paho.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]paho.Message(nil), c.msgs...)
}

func (c *pahoClient) handle(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
}

// dialPaho connects with client ID = username = id and id's password unless
// opts change them. No automatic reconnects: a disconnect must be visible.
func dialPaho(t *testing.T, brokerURL, id string, opts ...func(*paho.ClientOptions)) (*pahoClient, error) {
	t.Helper()
	c := &pahoClient{}
	// Protocol 4 (3.1.1) only: by default paho retries a refused
	// CONNECT as MQTT 3.1, which would double every refusal.
	o := paho.NewClientOptions().AddBroker(brokerURL).SetClientID(id).SetUsername(id).SetPassword(password(id)).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).
		SetConnectTimeout(5 * time.Second).SetDefaultPublishHandler(c.handle).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lost = append(c.lost, err)
		})
	for _, f := range opts {
		f(o)
	}
	c.Client = paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect %s: timed out", id)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func mustPaho(t *testing.T, brokerURL, id string, opts ...func(*paho.ClientOptions)) *pahoClient {
	t.Helper()
	c, err := dialPaho(t, brokerURL, id, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

// wait waits for a paho token and fails the test on error or timeout.
func wait(t *testing.T, what string, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// subscribe subscribes c to filter at QoS 1 and returns the SUBACK code.
func subscribe(t *testing.T, c *pahoClient, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	wait(t, "subscribe "+filter, tok)
	// One filter, one code (paho keys a shared subscription without its
	// $share/group/ prefix, so do not look it up by filter).
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	t.Fatalf("subscribe %s: no SUBACK code", filter)
	return 0
}

// barrier returns once the broker has fully processed every packet c sent
// before: mochi handles one connection's packets in order, and the SUBACK of
// this (denied, harmless) subscription is written only after the earlier
// packets' delivery to inline subscribers has finished. A PUBACK alone is no
// such proof: mochi writes it before delivering (server.go processPublish).
func barrier(t *testing.T, c *pahoClient) {
	t.Helper()
	subscribe(t, c, "barrier/never/allowed")
}

// inbox is an inline subscription recording what it gets.
type inbox struct {
	mu   sync.Mutex
	msgs []broker.Message
}

func (in *inbox) add(m broker.Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, m)
}

func (in *inbox) all() []broker.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]broker.Message(nil), in.msgs...)
}

func (in *inbox) onTopic(topic string) []broker.Message {
	var out []broker.Message
	for _, m := range in.all() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

func (tb *testBroker) inbox(t *testing.T, filter string) *inbox {
	t.Helper()
	in := &inbox{}
	if err := tb.Subscribe(filter, in.add); err != nil {
		t.Fatalf("inline subscribe %s: %v", filter, err)
	}
	return in
}
