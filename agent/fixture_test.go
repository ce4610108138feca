package agent_test

import (
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// waitTimeout bounds every wait in these tests; things normally happen in
// milliseconds, the slack is for a loaded CI machine under -race with the
// job tests running side by side (newJobEnv). Every wait is for something
// to happen, so a longer bound costs only a failing test's time.
const waitTimeout = 30 * time.Second

// host is an identity the test broker accepts.
type host struct {
	id, password string
}

func newHost(t *testing.T, auth *brokertest.StaticAuth) host {
	h := host{id: topics.RandomID(topics.HostIDPrefix), password: topics.RandomID("pw_")}
	if err := auth.Add(broker.Identity{Role: broker.RoleHost, ID: h.id}, h.password); err != nil {
		t.Fatal(err)
	}
	return h
}

// testBroker is the real embedded broker plus what the test observes of it.
type testBroker struct {
	*broker.Broker
	disconnects chan string // client IDs, from Config.OnDisconnect
}

// startBroker starts the real broker with a plain listener on addr
// ("127.0.0.1:0" for a fresh port) and, when tlsCfg is set, a TLS one.
func startBroker(t *testing.T, addr string, auth broker.Authenticator, tlsCfg *tls.Config) *testBroker {
	t.Helper()
	tb := &testBroker{disconnects: make(chan string, 100)}
	cfg := broker.Config{
		TCPAddr:                  addr,
		MaxConnsPerAddrPerMinute: -1, // reconnect tests connect often from one address
		MaxAuthFailuresPerAddr:   -1,
		OnDisconnect: func(id broker.Identity, _ uint64) {
			select {
			case tb.disconnects <- id.ID:
			default:
			}
		},
	}
	if tlsCfg != nil {
		cfg.TLSAddr, cfg.TLSConfig = "127.0.0.1:0", tlsCfg
	}
	b, err := broker.New(cfg, auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	tb.Broker = b
	t.Cleanup(func() { b.Close() })
	return tb
}

// collector records what the broker's inline subscription sees.
type collector struct {
	mu     sync.Mutex
	msgs   []broker.Message
	notify chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

// watch subscribes the collector to filter on b.
func (c *collector) watch(t *testing.T, b *testBroker, filter string) {
	t.Helper()
	if err := b.Subscribe(filter, c.add); err != nil {
		t.Fatal(err)
	}
}

func (c *collector) add(m broker.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *collector) all() []broker.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]broker.Message(nil), c.msgs...)
}

// waitFor returns the first message (in arrival order) matching match.
func (c *collector) waitFor(t *testing.T, what string, match func(broker.Message) bool) broker.Message {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		for _, m := range c.all() {
			if match(m) {
				return m
			}
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; got %d messages", what, len(c.all()))
		}
	}
}

// hello matches a hello of h satisfying ok, and decodes it.
func (c *collector) hello(t *testing.T, h string, what string, ok func(*topics.Hello) bool) *topics.Hello {
	t.Helper()
	var out topics.Hello
	c.waitFor(t, what, func(m broker.Message) bool {
		var hl topics.Hello
		if m.Topic != topics.HelloTopic(h) || topics.DecodeFrom(m.Payload, h, &hl) != nil || !ok(&hl) {
			return false
		}
		out = hl
		return true
	})
	return &out
}

// status matches a status of h satisfying ok, and decodes it.
func (c *collector) status(t *testing.T, h string, what string, ok func(*topics.Status) bool) *topics.Status {
	t.Helper()
	var out topics.Status
	c.waitFor(t, what, func(m broker.Message) bool {
		var s topics.Status
		if m.Topic != topics.StatusTopic(h) || topics.DecodeFrom(m.Payload, h, &s) != nil || !ok(&s) {
			return false
		}
		out = s
		return true
	})
	return &out
}

// waitDisconnect waits until the broker reports id's connection ended.
func waitDisconnect(t *testing.T, b *testBroker, id string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case got := <-b.disconnects:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("broker never reported %s disconnected", id)
		}
	}
}

// sentMessage is a down message the test published.
type sentMessage struct {
	id      string
	payload []byte
}
