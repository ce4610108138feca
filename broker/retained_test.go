package broker_test

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/topics"
)

// TestAgentSubscriptionsSkipTheRetainedLookup: nothing is retained on an
// agent's topics (the server's retained publish there is refused), so a
// host's subscriptions are stored with Retain Handling 2 and mochi does not
// walk its retained index for them; a monitor's subscription still gets
// the retained states, after its SUBACK (from the broker's own replay,
// monitor_replay.go).
func TestAgentSubscriptionsSkipTheRetainedLookup(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	state := topics.MonitorHostTopic(hostA)
	if err := tb.Publish(state, payload("online"), true, 1); err != nil {
		t.Fatal(err)
	}
	if err := tb.Publish(topics.CmdTopic(hostA), payload("run"), true, 1); err == nil {
		t.Error("a retained publish on a host's command topic was accepted")
	}
	if err := tb.Publish(topics.ConfigTopic(hostA), payload("config"), false, 1); err != nil {
		t.Errorf("a publish on a host's config topic: %v", err)
	}

	host := dialRaw(t, tb.TCPAddr())
	if code := host.connect(t, connectPacket(4, hostA, password(hostA))); code != 0 {
		t.Fatalf("host CONNACK %#x", code)
	}
	filter := topics.HostDownFilter(hostA)
	if ack := host.ack(t, subscribePacket(t, 4, 1, filter), packets.Suback); ack.ReasonCodes[0] != 1 {
		t.Fatalf("host SUBACK %v", ack.ReasonCodes)
	}
	cl, ok := tb.Mochi().Clients.Get(hostA)
	if !ok {
		t.Fatal("the host is not connected")
	}
	if sub, ok := cl.State.Subscriptions.Get(filter); !ok || sub.RetainHandling != 2 {
		t.Errorf("the host's subscription %+v (held %v), want Retain Handling 2", sub, ok)
	}

	mon := dialRaw(t, tb.TCPAddr())
	if code := mon.connect(t, connectPacket(4, monitor, password(monitor))); code != 0 {
		t.Fatalf("monitor CONNACK %#x", code)
	}
	if ack := mon.ack(t, subscribePacket(t, 4, 1, topics.MonitorFilter), packets.Suback); ack.ReasonCodes[0] != 1 {
		t.Fatalf("monitor SUBACK %v", ack.ReasonCodes)
	}
	pk, err := mon.read()
	if err != nil || pk.TopicName != state || !pk.FixedHeader.Retain {
		t.Errorf("monitor got %q retain=%v (%v), want the retained state of %s", pk.TopicName, pk.FixedHeader.Retain, err, state)
	}
}
