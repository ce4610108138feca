package broker_test

import (
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/topics"
)

// TestCloseEndsEveryConnectionWithoutItsWill: when the broker closes (its
// server stops), every connected client is reported disconnected once and
// an MQTT 5 client is told "server shutting down", but no client's Will is
// published — the server is its only reader and hears the disconnect
// anyway — and the log says how many connections were closed in one line,
// not one line per client.
func TestCloseEndsEveryConnectionWithoutItsWill(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	up := tb.inbox(t, topics.AllHostsUpFilter)
	clients := map[string]*rawClient{}
	for _, c := range []struct {
		id      string
		version byte
	}{{hostA, 4}, {hostB, 5}, {hostC, 4}} {
		rc := dialRaw(t, tb.TCPAddr())
		pk := connectPacket(c.version, c.id, password(c.id))
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = topics.StatusTopic(c.id)
		pk.Connect.WillPayload = payload("offline")
		if code := rc.connect(t, pk); code != 0 {
			t.Fatalf("%s: CONNACK %#x", c.id, code)
		}
		clients[c.id] = rc
	}
	waitFor(t, "every OnConnect", func() bool { return len(tb.presence.all()) == 3 })

	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}

	for id := range clients {
		if d := tb.presence.find(id, false); len(d) != 1 {
			t.Errorf("%s: reported disconnected %d times, want once", id, len(d))
		}
	}
	if pk, err := clients[hostB].read(); err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrServerShuttingDown.Code {
		t.Errorf("MQTT 5 client: got type %d reason %#x (%v), want DISCONNECT %#x",
			pk.FixedHeader.Type, pk.ReasonCode, err, packets.ErrServerShuttingDown.Code)
	}
	if w := up.all(); len(w) != 0 {
		t.Errorf("%d Wills published at shutdown, want none: %+v", len(w), w)
	}
	logs := tb.logs.String()
	if n := strings.Count(logs, `level=INFO msg="client disconnected"`); n != 0 {
		t.Errorf("%d clients logged disconnected one by one at shutdown, want one line for all", n)
	}
	if !strings.Contains(logs, `msg="listener closed" component=broker listener=tcp connections=3`) {
		t.Errorf("no line saying the listener closed its 3 connections")
	}
}
