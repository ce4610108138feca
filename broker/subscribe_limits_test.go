package broker_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// The SUBSCRIBE packets that found #9's topic-filter amplification: filters
// inside a host's own down/# that mochi accepted, each level one node in its
// topic index, built in time quadratic in the levels.

// deepFilter is a filter under host's down/# with levels extra levels.
func deepFilter(host string, tag, levels int) string {
	return fmt.Sprintf("rm/v1/hosts/%s/down/%d/%s#", host, tag, strings.Repeat("a/", levels))
}

// amplificationFilters are 100 filters of 1,000 levels (about 200 KB in one
// SUBSCRIBE): before the limits, some 70 MB of index per packet.
func amplificationFilters(host string) []string {
	out := make([]string, 100)
	for i := range out {
		out[i] = deepFilter(host, i, 1000)
	}
	return out
}

// manyFilters is the client's own allowed filter n times in one packet.
func manyFilters(host string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = topics.HostDownFilter(host)
	}
	return out
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// refusedCode is the SUBACK code of a refused filter for MQTT version v.
func refusedCode(v byte) byte {
	if v == 5 {
		return packets.ErrNotAuthorized.Code
	}
	return packets.ErrUnspecifiedError.Code // 0x80, the only 3.1.1 failure
}

// subscriptionsOf returns how many subscriptions mochi holds for client id.
func (tb *testBroker) subscriptionsOf(t *testing.T, id string) int {
	t.Helper()
	cl, ok := tb.Mochi().Clients.Get(id)
	if !ok {
		t.Fatalf("no session for %s", id)
	}
	return cl.State.Subscriptions.Len()
}

// TestSubscribeFilterAmplification replays #9's attack with raw MQTT 3.1.1
// and 5 clients: deep filters, a long filter, 300 filters in one packet, and
// a persistent session that reconnects. Each filter is refused in the
// SUBACK, the client stays connected, mochi holds no subscription for it,
// the heap does not grow by the tens of megabytes mochi's index cost, and
// other clients still subscribe. Not parallel: it measures the heap.
func TestSubscribeFilterAmplification(t *testing.T) {
	tb := startBroker(t, nil)
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("mqtt%d", v), func(t *testing.T) {
			connect := connectPacket(v, hostA, password(hostA))
			connect.Connect.Clean = false // a persistent session: what it held would stay
			if v == 5 {
				connect.Properties.SessionExpiryInterval, connect.Properties.SessionExpiryIntervalFlag = 3600, true
			}
			a := dialRaw(t, tb.TCPAddr())
			if code := a.connect(t, connect); code != 0 {
				t.Fatalf("CONNACK %#x", code)
			}

			before := heapInUse()
			cases := map[string][]string{
				"100 filters of 1,000 levels": amplificationFilters(hostA),
				"one filter of 5,000 levels":  {deepFilter(hostA, 0, 5000)},
				"one level of 300 bytes":      {topics.HostDownFilter(hostA)[:len(topics.HostDownFilter(hostA))-1] + strings.Repeat("x", 300)},
				"300 filters in one packet":   manyFilters(hostA, 300),
				"9 levels":                    {deepFilter(hostA, 0, 3)},
			}
			id := uint16(1)
			for name, filters := range cases {
				id++
				ack := a.ack(t, subscribePacket(t, v, id, filters...), packets.Suback)
				if len(ack.ReasonCodes) != len(filters) {
					t.Fatalf("%s: %d SUBACK codes for %d filters", name, len(ack.ReasonCodes), len(filters))
				}
				for i, code := range ack.ReasonCodes {
					if code != refusedCode(v) {
						t.Errorf("%s: filter %d got SUBACK %#x, want %#x (refused)", name, i, code, refusedCode(v))
						break
					}
				}
			}
			id++
			a.ack(t, unsubscribePacket(t, v, id, deepFilter(hostA, 1, 5000)), packets.Unsuback)
			if n := tb.subscriptionsOf(t, hostA); n != 0 {
				t.Errorf("mochi holds %d subscriptions for the attacker", n)
			}
			if grown := int64(heapInUse()) - int64(before); grown > 20<<20 {
				t.Errorf("heap grew by %d MB while refusing the filters", grown>>20)
			}

			// Another client is served as usual, and the attacker itself
			// still gets what it is allowed.
			b := mustPaho(t, tb.addr, hostB)
			if code := subscribe(t, b, topics.HostDownFilter(hostB)); code != 1 {
				t.Errorf("another host's SUBACK %#x, want granted QoS 1", code)
			}
			id++
			if ack := a.ack(t, subscribePacket(t, v, id, topics.HostDownFilter(hostA)), packets.Suback); ack.ReasonCodes[0] != 1 {
				t.Errorf("the attacker's own down/# after the refusals: SUBACK %#x", ack.ReasonCodes[0])
			}

			// The persistent session comes back with only that subscription.
			_ = a.conn.Close()
			waitFor(t, "the attacker's disconnect", func() bool {
				cl, ok := tb.Mochi().Clients.Get(hostA)
				return ok && cl.Closed()
			})
			again := dialRaw(t, tb.TCPAddr())
			if code := again.connect(t, connect); code != 0 {
				t.Fatalf("reconnect: CONNACK %#x", code)
			}
			if n := tb.subscriptionsOf(t, hostA); n != 1 {
				t.Errorf("the reconnected session holds %d subscriptions, want 1", n)
			}
			if grown := int64(heapInUse()) - int64(before); grown > 20<<20 {
				t.Errorf("heap grew by %d MB after the reconnect", grown>>20)
			}
			id++
			again.ack(t, unsubscribePacket(t, v, id, topics.HostDownFilter(hostA)), packets.Unsuback)
			_ = again.conn.Close()
		})
	}
}

// TestSubscriptionsPerClient: a monitor may subscribe to any host's
// monitor topic, but holds at most MaxSubscriptionsPerClient at once;
// resubscribing to a filter it holds is not a new one, and unsubscribing
// makes room.
func TestSubscriptionsPerClient(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	m := dialRaw(t, tb.TCPAddr())
	if code := m.connect(t, connectPacket(4, monitor, password(monitor))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	hostTopic := func(i int) string { return topics.MonitorHostTopic(fmt.Sprintf("h_host%03d", i)) }
	for i := 0; i < broker.MaxSubscriptionsPerClient+4; i++ {
		ack := m.ack(t, subscribePacket(t, 4, uint16(i+1), hostTopic(i)), packets.Suback)
		want := byte(1)
		if i >= broker.MaxSubscriptionsPerClient {
			want = refusedCode(4)
		}
		if ack.ReasonCodes[0] != want {
			t.Errorf("subscription %d: SUBACK %#x, want %#x", i+1, ack.ReasonCodes[0], want)
		}
	}
	if n := tb.subscriptionsOf(t, monitor); n != broker.MaxSubscriptionsPerClient {
		t.Errorf("mochi holds %d subscriptions, want %d", n, broker.MaxSubscriptionsPerClient)
	}
	if ack := m.ack(t, subscribePacket(t, 4, 100, hostTopic(0)), packets.Suback); ack.ReasonCodes[0] != 1 {
		t.Errorf("resubscribing to a held filter: SUBACK %#x", ack.ReasonCodes[0])
	}
	m.ack(t, unsubscribePacket(t, 4, 101, hostTopic(0)), packets.Unsuback)
	if ack := m.ack(t, subscribePacket(t, 4, 102, topics.MonitorFilter), packets.Suback); ack.ReasonCodes[0] != 1 {
		t.Errorf("after an unsubscribe: SUBACK %#x, want granted", ack.ReasonCodes[0])
	}
}

// TestSubscribeHookLimits checks the limits one by one, right at them and
// one past.
func TestSubscribeHookLimits(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	m := dialRaw(t, tb.TCPAddr())
	if code := m.connect(t, connectPacket(5, monitor, password(monitor))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	atLimit := make([]string, broker.MaxFiltersPerPacket)
	for i := range atLimit {
		atLimit[i] = topics.MonitorHostTopic(fmt.Sprintf("h_limit%d", i))
	}
	longHost := "h_" + strings.Repeat("l", topics.MaxIDLen-2)
	cases := []struct {
		name    string
		filters []string
		granted bool
	}{
		{"MaxFiltersPerPacket filters", atLimit, true},
		{"one more", append(atLimit, topics.MonitorEventsTopic()), false},
		{"the longest host ID", []string{topics.MonitorHostTopic(longHost)}, true},
		{"a level under a host", []string{topics.MonitorHostTopic(hostA) + "/x"}, false},
		{"monitor/hosts/#", []string{"rm/v1/monitor/hosts/#"}, true},
		{"monitor/+/x", []string{"rm/v1/monitor/+/x"}, false},
	}
	for i, c := range cases {
		ack := m.ack(t, subscribePacket(t, 5, uint16(i+1), c.filters...), packets.Suback)
		for j, code := range ack.ReasonCodes {
			if granted := code <= 2; granted != c.granted {
				t.Errorf("%s: filter %d SUBACK %#x, want granted %v", c.name, j, code, c.granted)
			}
		}
	}
}

// BenchmarkAmplificationSubscribeRefused measures what refusing #9's
// amplification SUBSCRIBE (100 filters of 1,000 levels, ~200 KB) costs the
// broker: time per packet and the live heap left after all of them.
func BenchmarkAmplificationSubscribeRefused(b *testing.B) {
	tb := startBroker(b, nil)
	c := dialRaw(b, tb.TCPAddr())
	if code := c.connect(b, connectPacket(4, hostA, password(hostA))); code != 0 {
		b.Fatalf("CONNACK %#x", code)
	}
	packet := subscribePacket(b, 4, 1, amplificationFilters(hostA)...)
	before := heapInUse()
	b.SetBytes(int64(len(packet)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ack(b, packet, packets.Suback)
	}
	b.StopTimer()
	b.ReportMetric(float64(int64(heapInUse())-int64(before))/(1<<20), "heap-MB-after")
}
