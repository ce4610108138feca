package mosquitto_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker/mosquitto"
	"github.com/restic-manager/restic-manager/broker/mosquitto/mosquittotest"
	"github.com/restic-manager/restic-manager/topics"
)

func connectBus(t *testing.T, mb *mosquittotest.Broker, clientID string) *mosquitto.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := mosquitto.Connect(ctx, mosquitto.Config{URL: mb.URL, Username: mosquittotest.AdminUser,
		Password: mb.AdminPassword, ClientID: clientID})
	if err != nil {
		t.Fatalf("connect: %v\nmosquitto log:\n%s", err, mb.Log())
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// agentClient connects like an agent: client ID = username.
func agentClient(t *testing.T, mb *mosquittotest.Broker, id, password string) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + mb.URL.Host).SetClientID(id).SetUsername(id).
		SetPassword(password).SetProtocolVersion(4).SetAutoReconnect(false).SetCleanSession(true).
		SetConnectTimeout(10 * time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

type inbox struct {
	mu   sync.Mutex
	msgs []mosquitto.Message
}

func (in *inbox) add(m mosquitto.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
}

func (in *inbox) snapshot() []mosquitto.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]mosquitto.Message(nil), in.msgs...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a condition with a deadline
	}
}

func subscribeResult(t *testing.T, c paho.Client, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(paho.Client, paho.Message) {})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

// TestHostACLOnMosquitto provisions two hosts and checks that Mosquitto
// enforces the host row of the ACL: a host's publishes under its own up/
// reach the server with its ID, another host's up/ and down/ are closed to
// it, the server's down messages reach it, and revocation kicks it and keeps
// it out.
func TestHostACLOnMosquitto(t *testing.T) {
	mb := mosquittotest.Start(t)
	bus := connectBus(t, mb, "server-1")
	var in inbox
	if err := bus.SubscribeShared(topics.AllHostsUpFilter, in.add); err != nil {
		t.Fatal(err)
	}
	a, b := topics.RandomID(topics.HostIDPrefix), topics.RandomID(topics.HostIDPrefix)
	for _, id := range []string{a, b} {
		if err := bus.ProvisionHost(id, "secret-"+id); err != nil {
			t.Fatalf("provision %s: %v", id, err)
		}
	}
	// Provisioning again replaces the secret and is not an error.
	if err := bus.ProvisionHost(a, "new-secret-"+a); err != nil {
		t.Fatalf("provision again: %v", err)
	}
	if _, err := agentClient(t, mb, a, "secret-"+a); err == nil {
		t.Fatal("the replaced secret still logs in")
	}
	if _, err := agentClient(t, mb, a, "secret-"+b); err == nil {
		t.Fatal("host a logged in with host b's secret")
	}
	ca, err := agentClient(t, mb, a, "new-secret-"+a)
	if err != nil {
		t.Fatalf("host a with its secret: %v\n%s", err, mb.Log())
	}

	// Forged: a publishes under b's subtree, then under its own.
	forged := topics.Topic{Kind: topics.KindStatus, Host: b}.String()
	own := topics.Topic{Kind: topics.KindStatus, Host: a}.String()
	for _, tp := range []string{forged, own} {
		if tok := ca.Publish(tp, 1, false, []byte(`{}`)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", tp, tok.Error())
		}
	}
	waitFor(t, "a's own status at the server", func() bool { return len(in.snapshot()) > 0 })
	for _, m := range in.snapshot() {
		if m.Topic != own || m.ClientID != a {
			t.Fatalf("server got %s from %q; only %s from %s may arrive", m.Topic, m.ClientID, own, a)
		}
	}

	if code := subscribeResult(t, ca, topics.HostDownFilter(b)); code != 0x80 {
		t.Fatalf("a subscribing to b's down/#: SUBACK %#x, want refused 0x80", code)
	}
	if code := subscribeResult(t, ca, topics.AllHostsUpFilter); code != 0x80 {
		t.Fatalf("a subscribing to every host's up/#: SUBACK %#x, want refused 0x80", code)
	}
	got := make(chan string, 4)
	tok := ca.Subscribe(topics.HostDownFilter(a), 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() })
	if !tok.WaitTimeout(10*time.Second) || tok.(*paho.SubscribeToken).Result()[topics.HostDownFilter(a)] == 0x80 {
		t.Fatalf("a may not subscribe to its own down/#: %v", tok.Error())
	}
	if err := bus.Publish(topics.CmdTopic(a), []byte(`{}`), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case tp := <-got:
		if tp != topics.CmdTopic(a) {
			t.Fatalf("a got %s", tp)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server's command did not reach a")
	}

	// Revocation kicks a now and keeps it out.
	bus.Disconnect(a)
	waitFor(t, "a kicked", func() bool { return !ca.IsConnectionOpen() })
	if _, err := agentClient(t, mb, a, "new-secret-"+a); err == nil {
		t.Fatal("a revoked host logged in again")
	}
}

// TestMonitorOnMosquitto checks the monitor row: it reads the monitor feed
// and may neither publish nor read hosts' traffic.
func TestMonitorOnMosquitto(t *testing.T) {
	mb := mosquittotest.Start(t)
	bus := connectBus(t, mb, "server-1")
	const mon = topics.MonitorPrefix + "grafana"
	if err := bus.ProvisionMonitor(mon, "mon-secret"); err != nil {
		t.Fatalf("%v\n%s", err, mb.Log())
	}
	c, err := agentClient(t, mb, mon, "mon-secret")
	if err != nil {
		t.Fatalf("monitor login: %v\n%s", err, mb.Log())
	}
	if code := subscribeResult(t, c, topics.AllHostsUpFilter); code != 0x80 {
		t.Fatalf("monitor subscribing to hosts' up/#: SUBACK %#x, want 0x80", code)
	}
	got := make(chan string, 4)
	if tok := c.Subscribe(topics.MonitorFilter, 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(10*time.Second) ||
		tok.(*paho.SubscribeToken).Result()[topics.MonitorFilter] == 0x80 {
		t.Fatal("monitor may not subscribe to the monitor feed")
	}
	host := topics.RandomID(topics.HostIDPrefix)
	if err := bus.Publish(topics.MonitorHostTopic(host), []byte(`{"state":"online"}`), true, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case tp := <-got:
		if tp != topics.MonitorHostTopic(host) {
			t.Fatalf("monitor got %s", tp)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the monitor state did not reach the monitor")
	}
	// A monitor's publish is dropped by Mosquitto: the server never sees it.
	var in inbox
	if err := bus.SubscribeShared(topics.AllHostsUpFilter, in.add); err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish(topics.Topic{Kind: topics.KindStatus, Host: host}.String(), 1, false, []byte(`{}`)); !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("publish not acknowledged")
	}
	// Prove the subscription works, then that the monitor's publish is not there.
	hc := provisionedHost(t, bus, mb)
	tp := topics.Topic{Kind: topics.KindStatus, Host: hc.id}.String()
	if tok := hc.c.Publish(tp, 1, false, []byte(`{}`)); !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("publish not acknowledged")
	}
	waitFor(t, "the host's status", func() bool { return len(in.snapshot()) > 0 })
	for _, m := range in.snapshot() {
		if m.ClientID != hc.id {
			t.Fatalf("server got %s from %s", m.Topic, m.ClientID)
		}
	}
}

type hostConn struct {
	id string
	c  paho.Client
}

func provisionedHost(t *testing.T, bus *mosquitto.Bus, mb *mosquittotest.Broker) hostConn {
	t.Helper()
	id := topics.RandomID(topics.HostIDPrefix)
	if err := bus.ProvisionHost(id, "pw-"+id); err != nil {
		t.Fatal(err)
	}
	c, err := agentClient(t, mb, id, "pw-"+id)
	if err != nil {
		t.Fatal(err)
	}
	return hostConn{id: id, c: c}
}

// TestSharedSubscriptionSplitsTraffic connects two replicas in one share
// group: every message reaches exactly one of them, and both get some.
func TestSharedSubscriptionSplitsTraffic(t *testing.T) {
	mb := mosquittotest.Start(t)
	r1, r2 := connectBus(t, mb, "server-1"), connectBus(t, mb, "server-2")
	var in1, in2 inbox
	if err := r1.SubscribeShared(topics.AllHostsUpFilter, in1.add); err != nil {
		t.Fatal(err)
	}
	if err := r2.SubscribeShared(topics.AllHostsUpFilter, in2.add); err != nil {
		t.Fatal(err)
	}
	hc := provisionedHost(t, r1, mb)
	const n = 20
	for i := range n {
		tp := topics.Topic{Kind: topics.KindStatus, Host: hc.id}.String()
		if tok := hc.c.Publish(tp, 1, false, fmt.Appendf(nil, `{"i":%d}`, i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	waitFor(t, "all messages", func() bool { return len(in1.snapshot())+len(in2.snapshot()) >= n })
	seen := map[string]int{}
	for _, m := range append(in1.snapshot(), in2.snapshot()...) {
		seen[string(m.Payload)]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages, want %d", len(seen), n)
	}
	for p, k := range seen {
		if k != 1 {
			t.Fatalf("%s delivered %d times", p, k)
		}
	}
	if len(in1.snapshot()) == 0 || len(in2.snapshot()) == 0 {
		t.Fatalf("not split: replica 1 got %d, replica 2 got %d", len(in1.snapshot()), len(in2.snapshot()))
	}
}

// TestObservedTrafficReachesEveryReplica: two replicas take a host's
// heartbeats both ways at once, as the server does (a heartbeat has a part
// done once and a part each replica keeps): through the share group each
// heartbeat reaches one replica, once, and observed it reaches both, once
// each — the two subscriptions on one replica never hand a copy to each
// other's handler. The test's admin role is the documented one.
func TestObservedTrafficReachesEveryReplica(t *testing.T) {
	mb := mosquittotest.Start(t)
	r1, r2 := connectBus(t, mb, "server-1"), connectBus(t, mb, "server-2")
	var shared1, shared2, seen1, seen2 inbox
	for _, s := range []struct {
		bus          *mosquitto.Bus
		shared, seen *inbox
	}{{r1, &shared1, &seen1}, {r2, &shared2, &seen2}} {
		if err := s.bus.SubscribeShared(topics.AllHostsStatusFilter, s.shared.add); err != nil {
			t.Fatal(err)
		}
		if err := s.bus.Observe(topics.AllHostsStatusFilter, s.seen.add); err != nil {
			t.Fatalf("%v\n%s", err, mb.Log())
		}
	}
	hc := provisionedHost(t, r1, mb)
	const n = 20
	for i := range n {
		if tok := hc.c.Publish(topics.StatusTopic(hc.id), 1, false, fmt.Appendf(nil, `{"i":%d}`, i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	waitFor(t, "every heartbeat at both observers and in the share group", func() bool {
		return len(seen1.snapshot()) >= n && len(seen2.snapshot()) >= n && len(shared1.snapshot())+len(shared2.snapshot()) >= n
	})
	count := func(msgs ...[]mosquitto.Message) map[string]int {
		c := map[string]int{}
		for _, ms := range msgs {
			for _, m := range ms {
				if m.ClientID != hc.id {
					t.Fatalf("%s from %q", m.Topic, m.ClientID)
				}
				c[string(m.Payload)]++
			}
		}
		return c
	}
	for name, c := range map[string]map[string]int{
		"replica 1 observed": count(seen1.snapshot()), "replica 2 observed": count(seen2.snapshot()),
		"the share group": count(shared1.snapshot(), shared2.snapshot()),
	} {
		if len(c) != n {
			t.Fatalf("%s %d distinct heartbeats, want %d", name, len(c), n)
		}
		for p, k := range c {
			if k != 1 {
				t.Fatalf("%s %s %d times, want once", name, p, k)
			}
		}
	}
}
