package broker_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// TestInlineSubscribe: the server's inline subscription gets a client's
// publish with its client ID and connection serial; a client cannot forge
// the serial, nor retain a message.
func TestInlineSubscribe(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	up := tb.inbox(t, topics.AllHostsUpFilter)
	a := mustPaho(t, tb.addr, hostA)
	wait(t, "publish", a.Publish(topics.HelloTopic(hostA), 1, true, payload("hello")))
	waitFor(t, "hello", func() bool { return len(up.all()) == 1 })
	conn := tb.presence.find(hostA, true)[0]
	want := broker.Message{Topic: topics.HelloTopic(hostA), Payload: payload("hello"), ClientID: hostA, Conn: conn}
	if got := up.all()[0]; got.Topic != want.Topic || !bytes.Equal(got.Payload, want.Payload) ||
		got.ClientID != want.ClientID || got.Conn != want.Conn || got.Retain {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if n := len(tb.Mochi().Topics.Messages(topics.HelloTopic(hostA))); n != 0 {
		t.Errorf("a client's message was retained (%d)", n)
	}

	// MQTT 5 client sending its own rm-conn user property.
	c := dialRaw(t, tb.TCPAddr())
	if code := c.connect(t, connectPacket(5, hostB, password(hostB))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	pk := rawPublish(topics.HelloTopic(hostB), 1, 1)
	pk.Properties.User = []packets.UserProperty{{Key: broker.ConnTagKey, Val: "1"}}
	c.publish(t, pk)
	if _, err := c.read(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's hello", func() bool { return len(up.onTopic(topics.HelloTopic(hostB))) == 1 })
	connB := tb.presence.find(hostB, true)[0]
	if got := up.onTopic(topics.HelloTopic(hostB))[0].Conn; got != connB {
		t.Errorf("forged serial accepted: Conn = %d, want %d", got, connB)
	}
}

// TestInlinePublish: the server publishes anywhere, retained messages reach
// later subscribers, and Message reports the inline origin.
func TestInlinePublish(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	if err := tb.Publish(topics.MonitorHostTopic(hostA), payload("state"), true, 1); err != nil {
		t.Fatal(err)
	}
	mon := mustPaho(t, tb.addr, monitor)
	subscribe(t, mon, topics.MonitorFilter)
	waitFor(t, "the retained state", func() bool { return len(mon.messages()) == 1 })
	if m := mon.messages()[0]; !m.Retained() || string(m.Payload()) != string(payload("state")) {
		t.Errorf("got retained=%v %q", m.Retained(), m.Payload())
	}

	in := tb.inbox(t, topics.MonitorFilter) // retained messages come at once
	if got := in.all(); len(got) != 1 || got[0].ClientID != broker.InlineClientID || got[0].Conn != 0 || !got[0].Retain {
		t.Errorf("inline view of the retained message: %+v", got)
	}

	for _, bad := range []string{"", "rm/+/x", "rm/#"} {
		if err := tb.Publish(bad, nil, false, 0); err == nil {
			t.Errorf("Publish(%q) succeeded", bad)
		}
	}
	if err := tb.Publish("rm/x", nil, false, 3); err == nil {
		t.Error("Publish with QoS 3 succeeded")
	}
	if err := tb.Subscribe("rm/#/x", func(broker.Message) {}); err == nil {
		t.Error("Subscribe to an invalid filter succeeded")
	}
	if err := tb.Subscribe("rm/#", nil); err == nil {
		t.Error("Subscribe with a nil handler succeeded")
	}
}

// TestInlineHandlerPanic: a panicking server handler does not take the
// publishing client down.
func TestInlineHandlerPanic(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	if err := tb.Subscribe(topics.AllHostsUpFilter, func(broker.Message) { panic("server bug") }); err != nil {
		t.Fatal(err)
	}
	a := mustPaho(t, tb.addr, hostA)
	wait(t, "publish", a.Publish(topics.HelloTopic(hostA), 1, false, payload("x")))
	barrier(t, a)
	if tb.Stats().PanicsRecovered != 1 || a.lostCount() != 0 {
		t.Errorf("panics %d, lost %d; want 1, 0", tb.Stats().PanicsRecovered, a.lostCount())
	}
}

// TestMochiLogRedacted: mochi's lines lose packet payloads and credentials,
// and its chatter below Warn is dropped.
func TestMochiLogRedacted(t *testing.T) {
	var buf syncBuffer
	log := broker.NewMochiLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	pk := packets.Packet{TopicName: "t", Payload: payload("p"),
		Connect: packets.ConnectParams{Password: []byte(password(hostA))}}
	log.Warn("error processing packet", "pk", pk, "packet", &pk, "raw", []byte(password(hostA)))
	log.With("pk", pk).Warn("with")
	log.Info("client connected")
	log.Error("publish packet error", "error", packets.ErrNotAuthorized, "packet", pk)
	out := buf.String()
	if strings.Contains(out, payloadMarker) || strings.Contains(out, password(hostA)) {
		t.Errorf("secret in mochi log:\n%s", out)
	}
	if strings.Contains(out, "client connected") || strings.Contains(out, "publish packet error") {
		t.Errorf("unwanted lines in mochi log:\n%s", out)
	}
	if !strings.Contains(out, "error processing packet") || !strings.Contains(out, "payload=") {
		t.Errorf("redacted line missing:\n%s", out)
	}
	if !log.Handler().Enabled(context.Background(), slog.LevelWarn) {
		t.Error("warnings disabled")
	}
}
