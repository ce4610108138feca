package broker_test

import (
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestACLHomeAssistantDiscovery: a monitor account may use the filters Home
// Assistant subscribes to under the discovery prefix inside the monitor
// tree, and receives the retained configs there; nothing outside it, and
// no host or pending client reads them (#13).
func TestACLHomeAssistantDiscovery(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	cfg := topics.HAConfigTopic(hostA, "overdue")
	if err := tb.Publish(cfg, payload("config"), true, 1); err != nil {
		t.Fatal(err)
	}
	clients := map[string]*pahoClient{}
	for _, id := range []string{hostA, monitor, pendingP} {
		clients[id] = mustPaho(t, tb.addr, id)
	}
	cases := []struct {
		who, filter string
		allowed     bool
	}{
		{monitor, topics.HADiscoveryPrefix + "/+/+/config", true},
		{monitor, topics.HADiscoveryPrefix + "/+/+/+/config", true},
		{monitor, topics.HADiscoveryPrefix + "/#", true},
		{monitor, cfg, true},
		{monitor, "homeassistant/#", false},
		{monitor, "homeassistant/+/+/config", false},
		{monitor, topics.HADiscoveryPrefix + "/+/#", false},
		{monitor, topics.HADiscoveryPrefix + "/sensor/" + hostA + "/nope/config", false},
		{hostA, topics.HADiscoveryPrefix + "/+/+/+/config", false},
		{hostA, cfg, false},
		{pendingP, topics.HADiscoveryPrefix + "/#", false},
	}
	for _, c := range cases {
		code := subscribe(t, clients[c.who], c.filter)
		if c.allowed && code != 1 {
			t.Errorf("%s subscribe %q: SUBACK %#x, want granted QoS 1", c.who, c.filter, code)
		}
		if !c.allowed && code != 0x80 {
			t.Errorf("%s subscribe %q: SUBACK %#x, want 0x80 (refused)", c.who, c.filter, code)
		}
	}
	mon := clients[monitor]
	// The config has a node id (the host): +/+/config does not match it,
	// the three other granted filters do, and each SUBSCRIBE delivers it
	// retained once: three copies, no more (MQTT sends a subscription's
	// matching retained messages once; it allows more copies only of a
	// publish matching overlapping subscriptions, and the config was
	// published before them). The replay of one SUBSCRIBE may still run
	// when the next comes (TestOverlappingSubscribeGetsOneRetainedCopyPerFilter).
	waitFor(t, "the retained config on three granted filters", func() bool { return len(mon.messages()) == 3 })
	waitFor(t, "the replays to end", func() bool { return tb.ReplaysActive() == 0 })
	for _, m := range mon.messages() {
		if m.Topic() != cfg || !m.Retained() || string(m.Payload()) != string(payload("config")) {
			t.Errorf("monitor got %q retained=%v %q", m.Topic(), m.Retained(), m.Payload())
		}
	}
	// A monitor may not publish a config of its own.
	wait(t, "the monitor's publish", mon.Publish(topics.HAConfigTopic(hostA, "online"), 1, true, []byte("{}")))
	barrier(t, mon)
	if got := len(mon.messages()); got != 3 {
		t.Errorf("%d messages, want the three copies of the config (a fourth copy, or the monitor's own publish)", got)
	}
}
