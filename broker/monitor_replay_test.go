package broker_test

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// fleetHost is the ID of the i-th host of a test fleet.
func fleetHost(i int) string { return fmt.Sprintf("h_fleet%05d", i) }

// retainFleet retains one monitor state per host of a fleet of n, each
// payload padded to size bytes, and returns the topics.
func retainFleet(tb testing.TB, b interface {
	Publish(string, []byte, bool, byte) error
}, n, size int, version string) []string {
	tb.Helper()
	names := make([]string, n)
	for i := range n {
		names[i] = topics.MonitorHostTopic(fleetHost(i))
		if err := b.Publish(names[i], statePayload(i, size, version), true, 1); err != nil {
			tb.Fatal(err)
		}
	}
	return names
}

// statePayload is host i's state in a given version, padded to size bytes.
func statePayload(i, size int, version string) []byte {
	p := payload(fmt.Sprintf("host %d state %s ", i, version))
	if len(p) < size {
		p = append(p, bytes.Repeat([]byte{'.'}, size-len(p))...)
	}
	return p
}

// waitLong polls cond until it holds or d passes.
func waitLong(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMonitorGetsEveryRetainedState: a monitor subscribing to the whole
// monitor tree of 3,000 hosts gets all 3,000 retained states with the
// default write queue (256 packets), at QoS 0 (Home Assistant's default)
// and 1. Mochi put them into the queue at once and, at QoS 0, dropped what
// did not fit in it and the socket (at QoS 1 its read loop waited for the
// connection's lock in NextPacketID instead, the client's next packets with
// it); the broker now replays them itself, paced by the connection.
//
// The monitor reads nothing until the broker has sent it 4 states or
// dropped one, as a monitor on a real network reads slower than the broker
// queues. Its receive buffer is small and the states are 4 KiB (a state
// with Home Assistant's discovery configs is of that order), so the
// kernel's buffers (at most 4 MiB here) hold about a thousand states, not
// all.
func TestMonitorGetsEveryRetainedState(t *testing.T) {
	forQoS01(t, monitorGetsEveryRetainedState)
}

func monitorGetsEveryRetainedState(t *testing.T, qos byte) {
	tb := startBroker(t, nil)
	if q := tb.EffectiveConfig().MaxClientWritesPending; q != broker.DefaultMaxClientWritesPending {
		t.Fatalf("the write queue is %d, want the default %d", q, broker.DefaultMaxClientWritesPending)
	}
	const hosts, size = 3000, 4096
	names := retainFleet(t, tb, hosts, size, "v1")

	var (
		mu   sync.Mutex
		seen = make(map[string]bool)
	)
	dropped := func() int64 { return atomic.LoadInt64(&tb.Mochi().Info.MessagesDropped) }
	mon, release := slowMonitor(t, tb, &mu, func(m paho.Message) {
		if m.Retained() {
			seen[m.Topic()] = true
		}
	})
	tok := mon.Subscribe(topics.MonitorFilter, qos, nil)
	waitLong(t, "4 states sent or one dropped", time.Minute, func() bool {
		return dropped() > 0 || tb.Stats().RetainedReplayed >= 4
	})
	release()
	wait(t, "subscribe", tok)
	waitForStates(t, tb, hosts, func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	})
	mu.Lock()
	defer mu.Unlock()
	for _, name := range names {
		if !seen[name] {
			t.Errorf("no retained state for %s", name)
		}
	}
	if mon.lostCount() != 0 {
		t.Errorf("the monitor lost its connection: %v", mon.lost)
	}
}

// forQoS01 runs test at QoS 0 and 1, in parallel subtests.
func forQoS01(t *testing.T, test func(*testing.T, byte)) {
	t.Parallel()
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			t.Parallel()
			test(t, qos)
		})
	}
}

// slowMonitor connects the monitor through a socket with a small receive
// buffer; its publish handler holds the first message until release,
// then passes each message to take under mu. release first gives the
// socket a receive buffer that is no longer the test's bottleneck.
func slowMonitor(t *testing.T, tb *testBroker, mu *sync.Mutex, take func(paho.Message)) (mon *pahoClient, release func()) {
	t.Helper()
	var (
		hold  = make(chan struct{})
		first sync.Once
		conn  *net.TCPConn
	)
	mon = mustPaho(t, tb.addr, monitor, func(o *paho.ClientOptions) {
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: 5 * time.Second, Control: smallReceiveBuffer}).Dial("tcp", u.Host)
			if err == nil {
				mu.Lock()
				conn = c.(*net.TCPConn)
				mu.Unlock()
			}
			return c, err
		})
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			first.Do(func() { <-hold })
			mu.Lock()
			defer mu.Unlock()
			take(m)
		})
	})
	return mon, func() {
		mu.Lock()
		err := conn.SetReadBuffer(4 << 20)
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		close(hold)
	}
}

// waitForStates waits until count says the monitor holds the states of
// hosts hosts, then until the broker has nothing left to send it.
func waitForStates(t *testing.T, tb *testBroker, hosts int, count func() int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); count() < hosts; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the monitor got the states of %d of %d hosts (mochi dropped %d)", count(), hosts,
				atomic.LoadInt64(&tb.Mochi().Info.MessagesDropped))
		}
	}
	waitLong(t, "the broker's sends to end", time.Minute, func() bool { return tb.ReplaysActive() == 0 })
}

// subscribeQoS0 encodes a 3.1.1 SUBSCRIBE of filter at QoS 0.
func subscribeQoS0(t testing.TB, id uint16, filter string) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id, ProtocolVersion: 4,
		Filters: packets.Subscriptions{{Filter: filter}}}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLiveUpdateDuringReplayIsNotOverwritten: while a monitor's replay of
// 3,000 retained states is held up by the monitor not reading, 500 hosts
// publish a newer state. The monitor gets each of them live, and no older
// retained copy comes after it: the last state it holds of every host is
// the one retained last.
func TestLiveUpdateDuringReplayIsNotOverwritten(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	const hosts, size, every = 3000, 4096, 6
	names := retainFleet(t, tb, hosts, size, "v1")

	mon := dialRaw(t, tb.TCPAddr())
	// A small receive buffer: the broker's socket fills after about a
	// thousand states (4 MiB), and the replay waits for the monitor.
	if err := mon.conn.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if code := mon.connect(t, connectPacket(4, monitor, password(monitor))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	if ack := mon.ack(t, subscribeQoS0(t, 1, topics.MonitorFilter), packets.Suback); ack.ReasonCodes[0] != 0 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	last := make(map[string]string)
	first, err := mon.read()
	if err != nil {
		t.Fatal(err)
	}
	last[first.TopicName] = string(first.Payload)

	for i := 0; i < hosts; i += every {
		if err := tb.Publish(names[i], statePayload(i, size, "v2"), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := tb.Stats().RetainedReplayed; n >= hosts {
		t.Fatalf("the replay ended (%d sent) before the updates: the test would prove nothing", n)
	}

	// Read everything, with a receive buffer that no longer holds the
	// broker up; once the replay has ended, a message published now is
	// the last one the monitor gets.
	if err := mon.conn.(*net.TCPConn).SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	sentinel := topics.MonitorEventsTopic()
	go func() {
		for {
			pk, err := mon.read()
			if err != nil {
				done <- err
				return
			}
			if pk.TopicName == sentinel {
				done <- nil
				return
			}
			last[pk.TopicName] = string(pk.Payload)
		}
	}()
	waitLong(t, "the replay to end", 2*time.Minute, func() bool { return tb.ReplaysActive() == 0 })
	if err := tb.Publish(sentinel, payload("sentinel"), false, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("reading the feed: %v", err)
	}
	for i, name := range names {
		want := "v1"
		if i%every == 0 {
			want = "v2"
		}
		got, ok := last[name]
		if !ok {
			t.Fatalf("no state of %s", name)
		}
		if !strings.Contains(got, " state "+want+" ") {
			t.Errorf("the last state of %s is %.60q, want %s", name, got, want)
		}
	}
}

// TestReplayKeepsTheACL: the replay sends a monitor only the retained
// topics mochi's delivery would (aclHook.OnACLCheck): a state retained
// under the monitor tree on a topic that is not one of the feed's is not
// sent, the host states are.
func TestReplayKeepsTheACL(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	allowed := topics.MonitorHostTopic(hostA)
	denied := allowed + "/secret"
	for _, name := range []string{allowed, denied} {
		if err := tb.Publish(name, payload(name), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	mon := mustPaho(t, tb.addr, monitor)
	if code := subscribe(t, mon, topics.MonitorFilter); code != 1 {
		t.Fatalf("SUBACK %#x", code)
	}
	waitFor(t, "the replay to end", func() bool { return tb.ReplaysActive() == 0 })
	sentinel := topics.MonitorEventsTopic()
	if err := tb.Publish(sentinel, payload("sentinel"), false, 1); err != nil {
		t.Fatal(err)
	}
	has := func(topic string) bool {
		for _, m := range mon.messages() {
			if m.Topic() == topic {
				return true
			}
		}
		return false
	}
	waitFor(t, "the sentinel", func() bool { return has(sentinel) })
	if !has(allowed) {
		t.Errorf("the monitor did not get the retained state of %s", allowed)
	}
	if has(denied) {
		t.Errorf("the monitor got %s, which its ACL does not allow", denied)
	}
}

// TestReplayWaitsForAcksAndEndsWithTheClient: a QoS 1 monitor that never
// acknowledges gets at most 256 retained states unacknowledged (the
// replay's window; mochi's own limit is 8,192, past which it would drop
// the client's live messages), and its replay ends when it disconnects.
func TestReplayWaitsForAcksAndEndsWithTheClient(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	retainFleet(t, tb, 3000, 300, "v1")
	mon := dialRaw(t, tb.TCPAddr())
	if code := mon.connect(t, connectPacket(4, monitor, password(monitor))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	if ack := mon.ack(t, subscribePacket(t, 4, 1, topics.MonitorFilter), packets.Suback); ack.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	const window = 256
	waitFor(t, "a window of states", func() bool { return tb.Stats().RetainedReplayed >= window })
	cl, ok := tb.Mochi().Clients.Get(monitor)
	if !ok {
		t.Fatal("the monitor is not connected")
	}
	if n := cl.State.Inflight.Len(); n != window {
		t.Errorf("%d states unacknowledged, want %d", n, window)
	}
	if tb.ReplaysActive() != 1 {
		t.Errorf("%d replays active, want the monitor's", tb.ReplaysActive())
	}
	_ = mon.conn.Close()
	waitFor(t, "the replay to end", func() bool { return tb.ReplaysActive() == 0 })
	if n := tb.Stats().RetainedReplayed; n != window {
		t.Errorf("%d states sent, want the window of %d", n, window)
	}
}

// TestMonitorGetsEveryPublishedState: a monitor subscribed to the monitor
// tree gets the newest state of each of 3,000 hosts whose states the
// server publishes one after another, as the 6-hourly republish does,
// with a write queue of 16 packets, at QoS 0 and 1: the broker sends
// them paced by the monitor's connection, each as a live delivery (no
// retain flag for MQTT 3.1.1), instead of queueing them, and mochi drops
// none. The monitor reads nothing until every state was published, and
// its receive buffer is small (see TestMonitorGetsEveryRetainedState).
func TestMonitorGetsEveryPublishedState(t *testing.T) {
	forQoS01(t, monitorGetsEveryPublishedState)
}

func monitorGetsEveryPublishedState(t *testing.T, qos byte) {
	tb := startBroker(t, func(c *broker.Config) { c.MaxClientWritesPending = 16 })
	const hosts, size = 3000, 4096
	var (
		mu       sync.Mutex
		last     = make(map[string]string)
		retained int
	)
	dropped := func() int64 { return atomic.LoadInt64(&tb.Mochi().Info.MessagesDropped) }
	mon, release := slowMonitor(t, tb, &mu, func(m paho.Message) {
		if m.Retained() {
			retained++
		}
		last[m.Topic()] = string(m.Payload())
	})
	wait(t, "subscribe", mon.Subscribe(topics.MonitorFilter, qos, nil))
	// The subscription's replay of the (empty) retained store ends before
	// the first state: a state stored while it still ran would rightly come
	// again as a retained copy, which this test does not count on.
	waitFor(t, "the subscription's replay to end", func() bool { return tb.ReplaysActive() == 0 })
	published := make(chan error, 1)
	go func() {
		for i := range hosts {
			if err := tb.Publish(topics.MonitorHostTopic(fleetHost(i)), statePayload(i, size, "v1"), true, 1); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	// Every state is published before the monitor reads any.
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	release()
	waitForStates(t, tb, hosts, func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(last)
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range hosts {
		if got := last[topics.MonitorHostTopic(fleetHost(i))]; got != string(statePayload(i, size, "v1")) {
			t.Fatalf("host %d: got %.40q", i, got)
		}
	}
	if retained != 0 {
		t.Errorf("%d states came with the retain flag, as a replay; a live delivery has none (MQTT 3.1.1)", retained)
	}
	if n := dropped(); n != 0 {
		t.Errorf("mochi dropped %d messages", n)
	}
	if mon.lostCount() != 0 {
		t.Errorf("the monitor lost its connection: %v", mon.lost)
	}
}

// TestOverlappingSubscribeGetsOneRetainedCopyPerFilter: a monitor's
// SUBSCRIBE that arrives while the replay of its previous one is sending
// the same retained message gets one copy per SUBSCRIBE whose filter
// matches it, not one more. The SUBSCRIBE of a topic name made mochi's ACL
// check of its filter count as a live delivery of that topic, and the
// running replay sent the topic again, as if a live copy might have gone
// before its own (TestACLHomeAssistantDiscovery got the retained config
// four times for three filters in 4 runs of 40).
//
// Not parallel: replayHeldOnConfig looks for the replay's goroutine among
// the process's.
func TestOverlappingSubscribeGetsOneRetainedCopyPerFilter(t *testing.T) {
	tb, mon, cfg := replayHeldOnConfig(t)
	mon.subscribe(t, 3, cfg) // while the replay of HA/# is sending cfg
	// Another host's state, which no filter of the monitor matches: the
	// replay reads the config again after its write, and finds it the same.
	if err := tb.Publish(topics.MonitorHostTopic(fleetHost(1)), payload("other"), true, 1); err != nil {
		t.Fatal(err)
	}
	feed := mon.readFeed(t, tb)
	for _, m := range feed {
		if m.TopicName != cfg || string(m.Payload) != string(payload(cfg)) {
			t.Errorf("got %s %q, want only the config", m.TopicName, m.Payload)
		}
	}
	// Two of the three filters match the config: a copy for each.
	if len(feed) != 2 {
		t.Errorf("the config came %d times, want 2 (one per matching SUBSCRIBE)", len(feed))
	}
}

// TestClearDuringReplayIsNotOverwritten: a retained state cleared (an
// empty retained publish, delivered live) while the replay is sending it
// is not followed by the older state: the replay sends the clear after it.
// Not parallel (see TestOverlappingSubscribeGetsOneRetainedCopyPerFilter).
func TestClearDuringReplayIsNotOverwritten(t *testing.T) {
	tb, mon, cfg := replayHeldOnConfig(t)
	if err := tb.Publish(cfg, nil, true, 0); err != nil {
		t.Fatal(err)
	}
	clear, err := mon.read() // the live delivery, queued by mochi
	if err != nil || clear.TopicName != cfg || len(clear.Payload) != 0 {
		t.Fatalf("got %q %q (%v), want the config cleared", clear.TopicName, clear.Payload, err)
	}
	feed := mon.readFeed(t, tb)
	if len(feed) == 0 || feed[len(feed)-1].TopicName != cfg {
		t.Fatalf("got %d messages after the clear, want the config's last", len(feed))
	}
	if last := feed[len(feed)-1]; len(last.Payload) != 0 {
		t.Errorf("the config's last message is %q after it was cleared, want it empty", last.Payload)
	}
}

// heldMonitor is a raw MQTT 5 monitor with Receive Maximum 1 holding one
// message unacknowledged: the replay's window is full.
type heldMonitor struct {
	*rawClient
	held packets.Packet
}

// replayHeldOnConfig retains a host's state and one of its Home Assistant
// configs, and connects a heldMonitor that subscribes to the state (whose
// copy it holds), then to the discovery prefix: the replay of that
// SUBSCRIBE has read the config and waits for room in its window to write
// it. It returns the config's topic.
func replayHeldOnConfig(t *testing.T) (*testBroker, *heldMonitor, string) {
	t.Helper()
	tb := startBroker(t, nil)
	state, cfg := topics.MonitorHostTopic(hostA), topics.HAConfigTopic(hostA, "overdue")
	for _, name := range []string{state, cfg} {
		if err := tb.Publish(name, payload(name), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	mon := &heldMonitor{rawClient: dialRaw(t, tb.TCPAddr())}
	conn := connectPacket(5, monitor, password(monitor))
	conn.Properties.ReceiveMaximum = 1
	if code := mon.connect(t, conn); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	mon.subscribe(t, 1, state)
	var err error
	if mon.held, err = mon.read(); err != nil || mon.held.TopicName != state || mon.held.FixedHeader.Qos != 1 {
		t.Fatalf("first message %q QoS %d (%v), want %s at QoS 1", mon.held.TopicName, mon.held.FixedHeader.Qos, err, state)
	}
	waiting := goroutinesIn("(*replays).packetID")
	mon.subscribe(t, 2, topics.HADiscoveryPrefix+"/#")
	waitFor(t, "the replay to wait for room in its window", func() bool { return goroutinesIn("(*replays).packetID") > waiting })
	return tb, mon, cfg
}

// subscribe subscribes to filter at QoS 1 (packet ID id), which must be
// granted.
func (c *heldMonitor) subscribe(t *testing.T, id uint16, filter string) {
	t.Helper()
	if ack := c.ack(t, subscribePacket(t, 5, id, filter), packets.Suback); ack.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK of %s: %v", filter, ack.ReasonCodes)
	}
}

// puback acknowledges the QoS 1 message id.
func (c *heldMonitor) puback(id uint16) error {
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id, ProtocolVersion: 5}
	if err := pk.PubackEncode(&buf); err != nil {
		return err
	}
	_, err := c.conn.Write(buf.Bytes())
	return err
}

// readFeed acknowledges the held message and returns every PUBLISH that
// follows it until the replay has ended (a sentinel published then is the
// last), acknowledging each.
func (c *heldMonitor) readFeed(t *testing.T, tb *testBroker) []packets.Packet {
	t.Helper()
	sentinel := payload("sentinel")
	var feed []packets.Packet
	done := make(chan error, 1)
	go func() {
		if err := c.puback(c.held.PacketID); err != nil {
			done <- err
			return
		}
		for {
			pk, err := c.read()
			if err == nil && pk.FixedHeader.Qos > 0 {
				err = c.puback(pk.PacketID)
			}
			if err != nil || bytes.Equal(pk.Payload, sentinel) {
				done <- err
				return
			}
			if pk.FixedHeader.Type == packets.Publish {
				feed = append(feed, pk)
			}
		}
	}()
	waitFor(t, "the replay to end", func() bool { return tb.ReplaysActive() == 0 })
	if err := tb.Publish(c.held.TopicName, sentinel, false, 1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("reading the feed: %v", err)
	}
	return feed
}

// goroutinesIn counts the goroutines of this process that run in the
// function named fn (a frame of their stack names it).
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte(fn+"("))
		}
		buf = make([]byte, 2*len(buf))
	}
}
