package broker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

func TestFilterWithin(t *testing.T) {
	down := topics.HostDownFilter(hostA) // rm/v1/hosts/h_alpha/down/#
	cases := []struct {
		f, a string
		want bool
	}{
		{down, down, true},
		{topics.CmdTopic(hostA), down, true},
		{"rm/v1/hosts/h_alpha/down/+", down, true},
		{"rm/v1/hosts/h_alpha/down/+/x/#", down, true},
		{"rm/v1/hosts/h_alpha/down", down, true}, // "x/#" matches "x" itself
		{"rm/v1/hosts/h_alpha/#", down, false},
		{"rm/v1/hosts/+/down/#", down, false},
		{"rm/v1/hosts/h_alpha/+/cmd", down, false},
		{"#", down, false},
		{"+/v1/hosts/h_alpha/down/#", down, false},
		{"rm/v1/hosts/h_alpha", down, false},
		{"", down, false},
		{"$share/g/" + down, down, false},
		{topics.CmdTopic(hostB), down, false},
		{topics.AnnounceRespTopic(pendingP), topics.AnnounceRespTopic(pendingP), true},
		{topics.AnnounceRespTopic(pendingP) + "/x", topics.AnnounceRespTopic(pendingP), false},
		{"rm/v1/announce/" + pendingP + "/+", topics.AnnounceRespTopic(pendingP), false},
		{"rm/v1/announce/" + pendingP + "/#", topics.AnnounceRespTopic(pendingP), false},
		{"a/b", "a/+", true},
		{"a/+", "a/+", true},
		{"a/#", "a/+", false},
		{"a/b/c", "a/+", false},
	}
	for _, c := range cases {
		if got := broker.FilterWithin(c.f, c.a); got != c.want {
			t.Errorf("filterWithin(%q, %q) = %v, want %v", c.f, c.a, got, c.want)
		}
	}
}

func TestParseIdentity(t *testing.T) {
	good := map[string]broker.Role{hostA: broker.RoleHost, monitor: broker.RoleMonitor, pendingP: broker.RolePending}
	for name, role := range good {
		id, err := broker.ParseIdentity(name)
		if err != nil || id != (broker.Identity{Role: role, ID: name}) {
			t.Errorf("ParseIdentity(%q) = %+v, %v", name, id, err)
		}
	}
	for _, name := range []string{"", "alpha", "h_", "h_a/b", "h_+", "h_#", "H_ALPHA", "mon_", "mon_a b", "inline",
		"x_user", "h_" + strings.Repeat("a", 80)} {
		if id, err := broker.ParseIdentity(name); err == nil {
			t.Errorf("ParseIdentity(%q) = %+v, want error", name, id)
		}
	}
	// An identity whose role disagrees with its prefix gets no ACL rows.
	if f := broker.PublishFilters(broker.Identity{Role: broker.RoleMonitor, ID: hostA}); f != nil {
		t.Errorf("mismatched identity may publish to %v", f)
	}
}

func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{hostA, monitor, pendingP, "h_a+", "mon_#", "", "p_\x00x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, err := broker.ParseIdentity(name)
		if err != nil {
			return
		}
		if id.ID != name || strings.ContainsAny(name, "+#/\x00") {
			t.Fatalf("accepted %q as %+v", name, id)
		}
		// Building the ACL filters must not panic for an accepted identity.
		_, _ = broker.PublishFilters(id), broker.SubscribeFilters(id)
	})
}

// TestACLSubscribeMatrix checks with real paho clients which subscriptions
// the broker grants (SUBACK QoS) and which it refuses (SUBACK 0x80).
func TestACLSubscribeMatrix(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	clients := map[string]*pahoClient{}
	for _, id := range []string{hostA, monitor, pendingP} {
		clients[id] = mustPaho(t, tb.addr, id)
	}
	cases := []struct {
		who, filter string
		allowed     bool
	}{
		{hostA, topics.HostDownFilter(hostA), true},
		{hostA, topics.CmdTopic(hostA), true},
		{hostA, "rm/v1/hosts/" + hostA + "/down/+", true},
		{hostA, topics.HostDownFilter(hostB), false},
		{hostA, topics.CmdTopic(hostB), false},
		{hostA, "rm/v1/hosts/+/down/cmd", false},
		{hostA, topics.HostUpFilter(hostA), false},
		{hostA, topics.HostUpFilter(hostB), false},
		{hostA, "#", false},
		{hostA, "+/#", false},
		{hostA, "+/v1/hosts/" + hostA + "/down/#", false},
		{hostA, "rm/#", false},
		{hostA, "$SYS/#", false},
		{hostA, "$share/g/" + topics.HostDownFilter(hostA), false},
		{hostA, topics.MonitorFilter, false},
		{monitor, topics.MonitorFilter, true},
		{monitor, topics.MonitorHostTopic(hostA), true},
		{monitor, "rm/v1/monitor/hosts/+", true},
		{monitor, topics.AllHostsUpFilter, false},
		{monitor, topics.HostDownFilter(hostA), false},
		{monitor, "#", false},
		{monitor, "rm/v1/+/hosts/" + hostA, false},
		{pendingP, topics.AnnounceRespTopic(pendingP), true},
		{pendingP, topics.AnnounceRespTopic(pendingQ), false},
		{pendingP, "rm/v1/announce/+/resp", false},
		{pendingP, "rm/v1/announce/" + pendingP + "/#", false},
		{pendingP, topics.AnnounceReqTopic(pendingP), false},
		{pendingP, "#", false},
		{pendingP, topics.HostDownFilter(hostA), false},
		{pendingP, "rm/v1/hosts/+/down/#", false},
		{pendingP, topics.MonitorFilter, false},
	}
	denied := 0
	for _, c := range cases {
		code := subscribe(t, clients[c.who], c.filter)
		if c.allowed && code != 1 {
			t.Errorf("%s subscribe %q: SUBACK %#x, want granted QoS 1", c.who, c.filter, code)
		}
		if !c.allowed {
			denied++
			if code != 0x80 {
				t.Errorf("%s subscribe %q: SUBACK %#x, want 0x80 (refused)", c.who, c.filter, code)
			}
		}
	}
	if got := tb.Stats().DeniedSubscribes; got != uint64(denied) {
		t.Errorf("DeniedSubscribes = %d, want %d", got, denied)
	}

	// Deliveries follow the grants: A gets its own command, not B's; the
	// monitor gets monitor state; the pending client its response.
	for _, topic := range []string{topics.CmdTopic(hostB), topics.CmdTopic(hostA), topics.MonitorHostTopic(hostA),
		topics.AnnounceRespTopic(pendingQ), topics.AnnounceRespTopic(pendingP)} {
		if err := tb.Publish(topic, payload(topic), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{hostA: topics.CmdTopic(hostA), monitor: topics.MonitorHostTopic(hostA),
		pendingP: topics.AnnounceRespTopic(pendingP)}
	for who, topic := range want {
		c := clients[who]
		waitFor(t, who+" to receive "+topic, func() bool { return len(c.messages()) > 0 })
		barrier(t, c)
		for _, m := range c.messages() {
			if m.Topic() != topic {
				t.Errorf("%s received %q, outside its ACL", who, m.Topic())
			}
		}
	}
	for who, c := range clients {
		if c.lostCount() != 0 {
			t.Errorf("%s lost its connection", who)
		}
	}
}

// TestACLPublishMatrix checks with real paho clients that only allowed
// publishes reach subscribers; denied ones are dropped without disconnecting.
func TestACLPublishMatrix(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	all := tb.inbox(t, "rm/#")
	clients := map[string]*pahoClient{}
	for _, id := range []string{hostA, monitor, pendingP} {
		clients[id] = mustPaho(t, tb.addr, id)
	}
	cases := []struct {
		who, topic string
		allowed    bool
	}{
		{hostA, topics.HelloTopic(hostA), true},
		{hostA, topics.StatusTopic(hostA), true},
		{hostA, topics.JobLogTopic(hostA, "job-1"), true},
		{hostA, topics.HelloTopic(hostB), false},
		{hostA, topics.JobEventTopic(hostB, "job-1"), false},
		{hostA, topics.CmdTopic(hostA), false},
		{hostA, topics.CmdTopic(hostB), false},
		{hostA, topics.AnnounceReqTopic(pendingP), false},
		{hostA, topics.MonitorHostTopic(hostA), false},
		{hostA, "rm/v1/hosts/" + hostA, false},
		{monitor, topics.MonitorEventsTopic(), false},
		{monitor, topics.MonitorHostTopic(hostA), false},
		{monitor, topics.HelloTopic(hostA), false},
		{pendingP, topics.AnnounceReqTopic(pendingP), true},
		{pendingP, topics.AnnounceReqTopic(pendingQ), false},
		{pendingP, topics.AnnounceRespTopic(pendingP), false},
		{pendingP, topics.HelloTopic(hostA), false},
	}
	denied := 0
	for _, c := range cases {
		for _, qos := range []byte{0, 1} {
			body := fmt.Sprintf("%s %s qos%d", c.who, c.topic, qos)
			wait(t, "publish "+body, clients[c.who].Publish(c.topic, qos, false, payload(body)))
			barrier(t, clients[c.who])
			got := 0
			for _, m := range all.onTopic(c.topic) {
				if string(m.Payload) == string(payload(body)) {
					got++
					if m.ClientID != c.who {
						t.Errorf("%s: Message.ClientID = %q", body, m.ClientID)
					}
				}
			}
			if c.allowed && got != 1 {
				t.Errorf("%s: delivered %d times, want once", body, got)
			}
			if !c.allowed {
				denied++
				if got != 0 {
					t.Errorf("%s: denied publish was delivered", body)
				}
			}
		}
	}
	if got := tb.Stats().DeniedPublishes; got != uint64(denied) {
		t.Errorf("DeniedPublishes = %d, want %d", got, denied)
	}
	for who, c := range clients {
		if c.lostCount() != 0 || !c.IsConnectionOpen() {
			t.Errorf("%s was disconnected by a denied publish", who)
		}
	}
	if n := len(tb.presence.find(hostA, true)); n != 1 {
		t.Errorf("host A connected %d times, want 1 (no reconnect loop)", n)
	}
}

// TestDeniedQoS1PublishKeepsClientConnected is the 3.1.1 reconnect-loop
// regression: mochi disconnects a 3.1.1 client whose QoS 1 publish fails the
// ACL check, and paho then reconnects and resends forever.
func TestDeniedQoS1PublishKeepsClientConnected(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	toB := tb.inbox(t, topics.HostUpFilter(hostB))
	up := tb.inbox(t, topics.AllHostsUpFilter)
	a := mustPaho(t, tb.addr, hostA)
	for i := 0; i < 3; i++ {
		wait(t, "denied QoS 1 publish", a.Publish(topics.HelloTopic(hostB), 1, false, payload("forged hello")))
	}
	// The sentinel: A's own hello, published after; mochi handles A's
	// packets in order, so anything forged would have been delivered first.
	wait(t, "allowed publish", a.Publish(topics.HelloTopic(hostA), 1, false, payload("real hello")))
	waitFor(t, "A's own hello", func() bool { return len(up.onTopic(topics.HelloTopic(hostA))) == 1 })
	if got := toB.all(); len(got) != 0 {
		t.Errorf("B's subscriber got %d forged messages", len(got))
	}
	if got := tb.Stats().DeniedPublishes; got != 3 {
		t.Errorf("DeniedPublishes = %d, want 3", got)
	}
	if a.lostCount() != 0 || !a.IsConnectionOpen() {
		t.Errorf("host A was disconnected")
	}
	if d := tb.presence.find(hostA, false); len(d) != 0 {
		t.Errorf("OnDisconnect for A: %v", d)
	}
}

// TestDeniedPublishMQTT5 checks an MQTT 5 client gets PUBACK "not authorized"
// for a denied QoS 1 publish and stays connected.
func TestDeniedPublishMQTT5(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	c := dialRaw(t, tb.TCPAddr())
	if code := c.connect(t, connectPacket(5, hostA, password(hostA))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	c.publish(t, rawPublish(topics.HelloTopic(hostB), 1, 7))
	ack, err := c.read()
	if err != nil || ack.FixedHeader.Type != 4 || ack.PacketID != 7 || ack.ReasonCode != 0x87 {
		t.Fatalf("got %+v (err %v), want PUBACK id 7 reason 0x87", ack.FixedHeader, err)
	}
	c.publish(t, rawPublish(topics.HelloTopic(hostA), 1, 8))
	ack, err = c.read()
	// Mochi puts the QoS (0x01) in a successful PUBACK's reason code.
	if err != nil || ack.PacketID != 8 || ack.ReasonCode >= 0x80 {
		t.Fatalf("allowed publish after a denied one: %+v reason %#x (err %v)", ack.FixedHeader, ack.ReasonCode, err)
	}
	if got := tb.Stats().DeniedPublishes; got != 1 {
		t.Errorf("DeniedPublishes = %d, want 1", got)
	}
}
