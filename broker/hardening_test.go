package broker_test

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// truncatedSubscribeV5 is an MQTT 5 SUBSCRIBE whose only filter lacks its
// subscription-options byte. Mochi v2.7.9 indexes past the end of the buffer
// decoding it (packets.go:959) and panics.
var truncatedSubscribeV5 = []byte{
	0x82, 0x08, // SUBSCRIBE, remaining length 8
	0x00, 0x01, // packet id
	0x00,                      // properties length 0
	0x00, 0x03, 'a', '/', 'b', // filter "a/b", then nothing
}

func TestMaxPacketSize(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *broker.Config) { c.MaxPacketSize = 1024 })
	if got := tb.Capabilities().MaximumPacketSize; got != 1024 {
		t.Fatalf("mochi MaximumPacketSize = %d, want 1024", got)
	}
	up := tb.inbox(t, topics.AllHostsUpFilter)
	a := mustPaho(t, tb.addr, hostA)
	wait(t, "small publish", a.Publish(topics.HelloTopic(hostA), 1, false, payload("small")))
	big := append(payload("big"), bytes.Repeat([]byte("x"), 2000)...)
	a.Publish(topics.HelloTopic(hostA), 1, false, big) // 3.1.1: the broker just closes
	waitFor(t, "the oversize publisher to be disconnected", func() bool { return a.lostCount() == 1 })
	waitFor(t, "OversizePackets", func() bool { return tb.Stats().OversizePackets == 1 })
	for _, m := range up.all() {
		if len(m.Payload) > 1024 {
			t.Errorf("an oversize message was delivered")
		}
	}

	// The limit applies to CONNECT too, before any authentication: a header
	// announcing 1 MiB is refused without reading the body.
	raw := dialRaw(t, tb.TCPAddr())
	raw.writeBytes(t, []byte{0x10, 0x80, 0x80, 0x40}) // CONNECT, remaining length 1 MiB
	if !raw.closedByBroker(5 * time.Second) {
		t.Fatal("oversize CONNECT: connection still open")
	}
	waitFor(t, "second OversizePackets", func() bool { return tb.Stats().OversizePackets == 2 })
}

func TestDefaultConfig(t *testing.T) {
	b, err := broker.New(broker.Config{}, brokertest.NewStaticAuth())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := b.Capabilities()
	day8 := uint32(8 * 24 * 3600)
	if c.MaximumPacketSize != 256<<10 || c.MaximumSessionExpiryInterval != day8 ||
		c.MaximumMessageExpiryInterval != int64(day8) {
		t.Errorf("capabilities: packet %d, session expiry %d, message expiry %d; want 256 KiB, 8 days, 8 days",
			c.MaximumPacketSize, c.MaximumSessionExpiryInterval, c.MaximumMessageExpiryInterval)
	}
	if c.MaximumClientWritesPending != broker.DefaultMaxClientWritesPending {
		t.Errorf("a client's write queue holds %d packets, want %d (mochi's 8,192 cost 64 KiB per agent)",
			c.MaximumClientWritesPending, broker.DefaultMaxClientWritesPending)
	}
	if cfg := b.EffectiveConfig(); cfg.ConnectTimeout != 10*time.Second || cfg.MaxConnsPerAddrPerMinute != 120 || cfg.MaxAuthFailuresPerAddr != 20 ||
		cfg.MaxPendingPerAddr != 32 || cfg.MaxPending != 1000 || cfg.MaxPendingKeepalive != 300*time.Second {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if _, err := broker.New(broker.Config{MaxPendingKeepalive: -time.Second}, brokertest.NewStaticAuth()); err == nil {
		t.Error("New with a negative MaxPendingKeepalive succeeded")
	}
	if _, err := broker.New(broker.Config{}, nil); err == nil {
		t.Error("New without an Authenticator succeeded")
	}
	if _, err := broker.New(broker.Config{TLSAddr: "127.0.0.1:0"}, brokertest.NewStaticAuth()); err == nil {
		t.Error("New with TLSAddr and no TLSConfig succeeded")
	}
	if b.TCPAddr() != nil || b.TLSAddr() != nil {
		t.Error("addresses reported before Start")
	}
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *broker.Config) { c.ConnectTimeout = 200 * time.Millisecond })
	silent := dialRaw(t, tb.TCPAddr())
	slow := dialRaw(t, tb.TCPAddr())
	slow.writeBytes(t, []byte{0x10, 0x20, 0x00}) // the start of a CONNECT, then nothing
	start := time.Now()
	for name, c := range map[string]*rawClient{"silent": silent, "slow": slow} {
		if !c.closedByBroker(5 * time.Second) {
			t.Errorf("%s connection not closed", name)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closing took %s", d)
	}
	waitFor(t, "ConnectTimeouts", func() bool { return tb.Stats().ConnectTimeouts == 2 })
	// A client that does send CONNECT is unaffected: mochi's keepalive
	// deadline replaces the CONNECT deadline.
	a := mustPaho(t, tb.addr, hostA)
	time.Sleep(400 * time.Millisecond) // longer than ConnectTimeout: what is tested is that nothing happens
	wait(t, "publish after the CONNECT deadline", a.Publish(topics.HelloTopic(hostA), 1, false, payload("late")))
	if a.lostCount() != 0 {
		t.Error("a connected client was cut by the CONNECT deadline")
	}
}

// TestPanicRecovery is the regression test for mochi panicking on a truncated
// MQTT 5 SUBSCRIBE, plus garbage on raw TCP: the broker keeps serving.
func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	up := tb.inbox(t, topics.AllHostsUpFilter)
	a := mustPaho(t, tb.addr, hostA)
	if code := subscribe(t, a, topics.CmdTopic(hostA)); code != 1 {
		t.Fatalf("SUBACK %#x", code)
	}

	crash := dialRaw(t, tb.TCPAddr())
	connect := connectPacket(5, hostC, password(hostC))
	connect.Connect.WillFlag = true
	connect.Connect.WillTopic = topics.StatusTopic(hostC)
	connect.Connect.WillPayload = payload("offline")
	if code := crash.connect(t, connect); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	crash.writeBytes(t, truncatedSubscribeV5)
	if !crash.closedByBroker(5 * time.Second) {
		t.Fatal("the panicking connection was not closed")
	}
	waitFor(t, "PanicsRecovered", func() bool { return tb.Stats().PanicsRecovered == 1 })

	// The panicking client ends like a dropped one: its Will is published
	// with its connection serial, OnDisconnect is reported, and its
	// clean session is gone so it can connect again.
	connC := tb.presence.find(hostC, true)
	waitFor(t, "OnDisconnect of the panicking client", func() bool { return len(tb.presence.find(hostC, false)) == 1 })
	if len(connC) != 1 || tb.presence.find(hostC, false)[0] != connC[0] {
		t.Errorf("presence of C: connects %v, disconnects %v", connC, tb.presence.find(hostC, false))
	}
	waitFor(t, "the Will of the panicking client", func() bool { return len(up.onTopic(topics.StatusTopic(hostC))) == 1 })
	if w := up.onTopic(topics.StatusTopic(hostC))[0]; w.ClientID != hostC || w.Conn != connC[0] {
		t.Errorf("Will = %+v, want client %s conn %d", w, hostC, connC[0])
	}
	if _, ok := tb.Mochi().Clients.Get(hostC); ok {
		t.Error("the panicking clean-session client is still in mochi's client map")
	}

	// Random garbage on raw TCP connections: refused, nothing else happens.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		g := dialRaw(t, tb.TCPAddr())
		junk := make([]byte, 1+rng.Intn(300))
		rng.Read(junk)
		g.writeBytes(t, junk)
		_ = g.conn.Close()
	}

	// The client connected before is still served both ways.
	wait(t, "publish after the panic", a.Publish(topics.HelloTopic(hostA), 1, false, payload("still here")))
	waitFor(t, "A's hello", func() bool { return len(up.onTopic(topics.HelloTopic(hostA))) == 1 })
	if err := tb.Publish(topics.CmdTopic(hostA), payload("cmd"), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's command", func() bool { return len(a.messages()) == 1 })
	if a.lostCount() != 0 {
		t.Error("an innocent client lost its connection")
	}
	mustPaho(t, tb.addr, hostC) // the crashed identity can come back
}

func TestConnectionRateLimit(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *broker.Config) { c.MaxConnsPerAddrPerMinute = 3 })
	for _, id := range []string{hostA, hostB, hostC} {
		mustPaho(t, tb.addr, id)
	}
	if _, err := dialPaho(t, tb.addr, monitor); err == nil {
		t.Fatal("the 4th connection in a minute was accepted")
	}
	if s := tb.Stats(); s.RateLimited != 1 || s.AuthFailures != 0 {
		t.Errorf("stats = %+v, want 1 rate limited, no auth failure", s)
	}
	if !strings.Contains(tb.logs.String(), "connection attempts over the limit") {
		t.Error("the refusal was not logged")
	}
}

func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *broker.Config) { c.MaxAuthFailuresPerAddr = 2 })
	wrong := func(o *paho.ClientOptions) { o.SetPassword("wrong") }
	for i := 0; i < 2; i++ {
		_, err := dialPaho(t, tb.addr, hostA, wrong)
		if err == nil || !strings.Contains(err.Error(), "not Authorized") {
			t.Fatalf("attempt %d: err = %v, want CONNACK not authorized", i+1, err)
		}
	}
	// Now even the right password is refused, at accept (no CONNACK).
	_, err := dialPaho(t, tb.addr, hostA)
	if err == nil {
		t.Fatal("a blocked address could log in")
	}
	if strings.Contains(err.Error(), "not Authorized") {
		t.Errorf("blocked address got a CONNACK (%v); want the connection closed at accept", err)
	}
	if s := tb.Stats(); s.AuthFailures != 2 || s.RateLimited != 1 {
		t.Errorf("stats = %+v, want 2 auth failures, 1 rate limited", s)
	}
}
