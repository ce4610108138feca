package broker_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

func persistent(o *paho.ClientOptions) { o.SetCleanSession(false) }

// TestQueuedCommandReachesReconnectingHost: a 3.1.1 host with a persistent
// session gets the QoS 1 command the server published while it was offline.
// (The 8-day part is configuration: see TestDefaultConfig.)
func TestQueuedCommandReachesReconnectingHost(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	h := mustPaho(t, tb.addr, hostA, persistent)
	if code := subscribe(t, h, topics.CmdTopic(hostA)); code != 1 {
		t.Fatalf("SUBACK %#x", code)
	}
	h.Disconnect(100)
	waitFor(t, "the host to be offline", func() bool { return len(tb.presence.find(hostA, false)) == 1 })

	if err := tb.Publish(topics.CmdTopic(hostA), payload("run backup"), false, 1); err != nil {
		t.Fatal(err)
	}
	h2 := mustPaho(t, tb.addr, hostA, persistent)
	waitFor(t, "the queued command", func() bool { return len(h2.messages()) == 1 })
	if m := h2.messages()[0]; m.Topic() != topics.CmdTopic(hostA) || string(m.Payload()) != string(payload("run backup")) {
		t.Errorf("got %s %q", m.Topic(), m.Payload())
	}
}

// TestExpiredSessionIsForgotten: after SessionExpiry a disconnected session
// is dropped, subscriptions included (mochi leaves them in its topic index;
// our OnClientExpired removes them).
func TestExpiredSessionIsForgotten(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *broker.Config) { c.SessionExpiry = time.Second })
	h := mustPaho(t, tb.addr, hostA, persistent)
	subscribe(t, h, topics.CmdTopic(hostA))
	h.Disconnect(100)
	waitFor(t, "the host to be offline", func() bool { return len(tb.presence.find(hostA, false)) == 1 })
	if _, ok := tb.Mochi().Clients.Get(hostA); !ok {
		t.Fatal("the persistent session was dropped at once")
	}
	waitFor(t, "the session to expire", func() bool {
		_, ok := tb.Mochi().Clients.Get(hostA)
		return !ok && len(tb.Mochi().Topics.Subscribers(topics.CmdTopic(hostA)).Subscriptions) == 0
	})
}

// TestTakeoverSerials: when a host connects again while its old connection
// is still open, OnConnect(new) and OnDisconnect(old) come in some order and
// the serials tell them apart; the old connection's Will carries the old
// serial, so a consumer can ignore it.
func TestTakeoverSerials(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	up := tb.inbox(t, topics.AllHostsUpFilter)
	will := func(o *paho.ClientOptions) { o.SetWill(topics.StatusTopic(hostA), payloadMarker+"offline", 0, false) }
	c1 := mustPaho(t, tb.addr, hostA, persistent, will)
	barrier(t, c1) // makes it likely that mochi sends c1's Will (see below)
	c2 := mustPaho(t, tb.addr, hostA, persistent, will)
	waitFor(t, "both OnConnects", func() bool { return len(tb.presence.find(hostA, true)) == 2 })
	waitFor(t, "the old connection's OnDisconnect", func() bool { return len(tb.presence.find(hostA, false)) == 1 })
	waitFor(t, "the old connection to notice", func() bool { return c1.lostCount() == 1 })

	// Serials increase in the order connections were accepted; the
	// OnConnect calls themselves may come in either order (the old
	// connection's can be delayed past the new one's: mochi sends CONNACK
	// before OnSessionEstablished runs).
	conns := tb.presence.find(hostA, true)
	if len(conns) != 2 || conns[0] == conns[1] {
		t.Fatalf("OnConnect serials %v, want two different", conns)
	}
	old, cur := min(conns[0], conns[1]), max(conns[0], conns[1])
	if d := tb.presence.find(hostA, false); d[0] != old {
		t.Fatalf("OnDisconnect serial %d, want the old connection's %d", d[0], old)
	}

	// What a consumer does: remember the highest serial seen; a connect of a
	// lower serial, and a disconnect or Will of another serial, is stale.
	var online uint64
	for _, e := range tb.presence.all() {
		switch {
		case e.connect && e.conn > online:
			online = e.conn
		case !e.connect && e.conn == online:
			online = 0
		}
	}
	if online != cur {
		t.Errorf("consumer thinks connection %d is online, want %d", online, cur)
	}
	// Mochi publishes the old connection's Will before calling OnDisconnect
	// (server.go attachClient), so any Will is in by now. It may be missing:
	// when the takeover closes the old connection before its read loop
	// blocks, mochi ends it without the Will. TestWillCarriesSerial covers
	// the Will's serial deterministically.
	for _, w := range up.onTopic(topics.StatusTopic(hostA)) {
		if w.Conn != old || w.ClientID != hostA {
			t.Errorf("Will from conn %d client %q, want conn %d (stale)", w.Conn, w.ClientID, old)
		}
	}

	// The new connection works and inherited the session.
	wait(t, "publish on the new connection", c2.Publish(topics.HelloTopic(hostA), 1, false, payload("hello")))
	waitFor(t, "hello", func() bool { return len(up.onTopic(topics.HelloTopic(hostA))) == 1 })
	if m := up.onTopic(topics.HelloTopic(hostA))[0]; m.Conn != cur {
		t.Errorf("hello from conn %d, want %d", m.Conn, cur)
	}
	c2.Disconnect(100)
	waitFor(t, "the new connection's OnDisconnect", func() bool { return len(tb.presence.find(hostA, false)) == 2 })
	if d := tb.presence.find(hostA, false); d[1] != cur {
		t.Errorf("second OnDisconnect serial %d, want %d", d[1], cur)
	}
}

// TestWillCarriesSerial: a connection that drops without DISCONNECT has its
// Will published with its own client ID and connection serial.
func TestWillCarriesSerial(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	up := tb.inbox(t, topics.AllHostsUpFilter)
	for i := 0; i < 2; i++ {
		c := dialRaw(t, tb.TCPAddr())
		pk := connectPacket(4, hostA, password(hostA))
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = topics.StatusTopic(hostA)
		pk.Connect.WillPayload = payload("offline")
		if code := c.connect(t, pk); code != 0 {
			t.Fatalf("CONNACK %#x", code)
		}
		_ = c.conn.Close() // no DISCONNECT: the Will must go out
		waitFor(t, "the Will", func() bool { return len(up.all()) == i+1 })
		conns := tb.presence.find(hostA, true)
		if w := up.all()[i]; w.Conn != conns[i] || w.ClientID != hostA || w.Retain {
			t.Errorf("Will %d: %+v, want conn %d client %s not retained", i, w, conns[i], hostA)
		}
	}
}

// TestDisconnectRevokes: Disconnect closes the connection now, reports it,
// and discards the session so nothing is queued for a revoked host.
func TestDisconnectRevokes(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	h := mustPaho(t, tb.addr, hostA, persistent)
	subscribe(t, h, topics.CmdTopic(hostA))
	other := mustPaho(t, tb.addr, hostB)

	tb.auth.Remove(hostA)
	tb.Disconnect(hostA)
	waitFor(t, "the revoked host to lose its connection", func() bool { return h.lostCount() == 1 })
	waitFor(t, "OnDisconnect", func() bool { return len(tb.presence.find(hostA, false)) == 1 })
	if _, ok := tb.Mochi().Clients.Get(hostA); ok {
		t.Error("the revoked host's session survived")
	}
	if subs := tb.Mochi().Topics.Subscribers(topics.CmdTopic(hostA)).Subscriptions; len(subs) != 0 {
		t.Errorf("the revoked host's subscriptions survived: %v", subs)
	}
	if _, err := dialPaho(t, tb.addr, hostA, persistent); err == nil {
		t.Error("the revoked host could connect again")
	}
	if other.lostCount() != 0 {
		t.Error("another host was disconnected")
	}
	tb.Disconnect("h_nobody")            // unknown: ignored
	tb.Disconnect(broker.InlineClientID) // the server's own client: ignored
	if err := tb.Publish(topics.CmdTopic(hostB), payload("still works"), false, 1); err != nil {
		t.Fatal(err)
	}
}

// TestDisconnectMQTT5 checks an MQTT 5 client is told why.
func TestDisconnectMQTT5(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	c := dialRaw(t, tb.TCPAddr())
	if code := c.connect(t, connectPacket(5, hostA, password(hostA))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	waitFor(t, "OnConnect", func() bool { return len(tb.presence.find(hostA, true)) == 1 })
	tb.Disconnect(hostA)
	pk, err := c.read()
	if err != nil || pk.FixedHeader.Type != 14 || pk.ReasonCode != 0x98 {
		t.Fatalf("got type %d reason %#x (err %v), want DISCONNECT 0x98", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
	if !c.closedByBroker(5 * time.Second) {
		t.Error("connection left open")
	}
}
