package broker_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
)

// connectBytes is host id's CONNECT, encoded.
func connectBytes(t *testing.T, id string) []byte {
	t.Helper()
	var buf bytes.Buffer
	pk := connectPacket(4, id, password(id))
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// startGatedBroker starts a plain-TCP broker with max slots in all and
// perAddr per address (the CONNECT is what a slot covers there; with TLS
// the handshake comes first, in the same slot).
func startGatedBroker(t *testing.T, max, perAddr int, mod func(*broker.Config)) *testBroker {
	t.Helper()
	return startBroker(t, func(c *broker.Config) {
		c.MaxHandshakes, c.MaxHandshakesPerAddr = max, perAddr
		if mod != nil {
			mod(c)
		}
	})
}

func taken(tb *testBroker) int {
	n, _, _ := tb.AdmissionState()
	return n
}

func waiting(tb *testBroker) int {
	_, _, n := tb.AdmissionState()
	return n
}

// expectConnack reads the CONNACK of a CONNECT written earlier.
func expectConnack(t *testing.T, c *rawClient, who string) {
	t.Helper()
	pk, err := c.read()
	if err != nil || pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
		t.Fatalf("%s: no accepting CONNACK (%v, type %d, code %#x)", who, err, pk.FixedHeader.Type, pk.ReasonCode)
	}
}

// TestAdmissionQueuesABurstBeyondTheCap: with two slots, two connections
// that started their CONNECT hold them, a third waits in line (it is not
// refused, and not read), and is served once one of the first two is
// decided.
func TestAdmissionQueuesABurstBeyondTheCap(t *testing.T) {
	t.Parallel()
	tb := startGatedBroker(t, 2, -1, nil)
	ids := []string{hostA, hostB, hostC}
	msgs := make([][]byte, len(ids))
	clients := make([]*rawClient, len(ids))
	for i, id := range ids {
		msgs[i] = connectBytes(t, id)
		clients[i] = dialRaw(t, tb.TCPAddr())
	}
	// The first two send the first byte of their CONNECT: each takes a slot.
	for i := range 2 {
		clients[i].writeBytes(t, msgs[i][:1])
	}
	waitFor(t, "two slots taken", func() bool { return taken(tb) == 2 })
	// The third sends its whole CONNECT and waits in line.
	clients[2].writeBytes(t, msgs[2])
	waitFor(t, "the third queued", func() bool { return waiting(tb) == 1 })
	if st := tb.Stats(); st.HandshakesQueued != 1 || st.AdmissionTimeouts != 0 {
		t.Fatalf("queued %d, admission timeouts %d; want 1, 0", st.HandshakesQueued, st.AdmissionTimeouts)
	}
	// The first finishes its CONNECT: decided, its slot goes to the third.
	clients[0].writeBytes(t, msgs[0][1:])
	expectConnack(t, clients[0], ids[0])
	expectConnack(t, clients[2], ids[2])
	clients[1].writeBytes(t, msgs[1][1:])
	expectConnack(t, clients[1], ids[1])
	waitFor(t, "three sessions", func() bool { return tb.Stats().Connections == 3 })
	if st := tb.Stats(); st.HandshakesQueued != 1 || st.ConnectTimeouts != 0 {
		t.Errorf("queued %d, connect timeouts %d; want 1, 0", st.HandshakesQueued, st.ConnectTimeouts)
	}
	waitFor(t, "slots free", func() bool {
		n, addrs, _ := tb.AdmissionState()
		return n == 0 && addrs == 0
	})
}

// TestAdmissionCutsAStalledHandshake: a peer that started and stalls holds
// its slot only until its deadline; the connection waiting behind it is
// then served. A silent peer (no byte sent) never takes a slot.
func TestAdmissionCutsAStalledHandshake(t *testing.T) {
	t.Parallel()
	tb := startGatedBroker(t, 1, -1, func(c *broker.Config) {
		c.ConnectTimeout = 300 * time.Millisecond
		broker.SetAdmissionWait(c, time.Minute) // the waiter outlasts the stalled one
	})
	silent := dialRaw(t, tb.TCPAddr())
	_ = silent
	stalled := dialRaw(t, tb.TCPAddr())
	stalled.writeBytes(t, connectBytes(t, hostA)[:2])
	waitFor(t, "the stalled one admitted", func() bool { return taken(tb) == 1 })
	good := dialRaw(t, tb.TCPAddr())
	good.writeBytes(t, connectBytes(t, hostB))
	if !stalled.closedByBroker(10 * time.Second) {
		t.Fatal("a stalled CONNECT kept its slot past its deadline")
	}
	expectConnack(t, good, hostB)
	waitFor(t, "its session", func() bool { return tb.Stats().Connections == 1 })
	if st := tb.Stats(); st.ConnectTimeouts < 1 || st.AdmissionTimeouts != 0 {
		t.Errorf("connect timeouts %d, admission timeouts %d; want ≥1, 0", st.ConnectTimeouts, st.AdmissionTimeouts)
	}
}

// TestAdmissionWaitEnds: a connection that gets no slot within its wait is
// closed unread (its client retries later), and counted.
func TestAdmissionWaitEnds(t *testing.T) {
	t.Parallel()
	tb := startGatedBroker(t, 1, -1, func(c *broker.Config) {
		c.ConnectTimeout = time.Minute // the stalled one holds its slot throughout
		broker.SetAdmissionWait(c, 100*time.Millisecond)
	})
	stalled := dialRaw(t, tb.TCPAddr())
	stalled.writeBytes(t, connectBytes(t, hostA)[:2])
	waitFor(t, "the stalled one admitted", func() bool { return taken(tb) == 1 })
	late := dialRaw(t, tb.TCPAddr())
	late.writeBytes(t, connectBytes(t, hostB))
	if !late.closedByBroker(10 * time.Second) {
		t.Fatal("a connection with no slot was kept past its wait")
	}
	waitFor(t, "admission timeout counted", func() bool { return tb.Stats().AdmissionTimeouts == 1 })
	if waiting(tb) != 0 {
		t.Error("the closed connection is still in line")
	}
	// The stalled one still gets its CONNECT through.
	stalled.writeBytes(t, connectBytes(t, hostA)[2:])
	expectConnack(t, stalled, hostA)
}

// TestAdmissionPerAddress: one address holds at most its share of the
// slots; its next connection waits while another address's is served.
func TestAdmissionPerAddress(t *testing.T) {
	t.Parallel()
	tb := startGatedBroker(t, 2, 1, nil)
	first := dialRawFrom(t, tb.TCPAddr(), "127.0.0.2")
	firstMsg := connectBytes(t, hostA)
	first.writeBytes(t, firstMsg[:1])
	waitFor(t, "the first admitted", func() bool { return taken(tb) == 1 })
	sameSite := dialRawFrom(t, tb.TCPAddr(), "127.0.0.2")
	sameSite.writeBytes(t, connectBytes(t, hostB))
	waitFor(t, "the same address's second queued", func() bool { return waiting(tb) == 1 })
	otherSite := dialRawFrom(t, tb.TCPAddr(), "127.0.0.3")
	otherSite.writeBytes(t, connectBytes(t, hostC))
	expectConnack(t, otherSite, hostC)
	if waiting(tb) != 1 {
		t.Fatal("the same address's second connection left the line while the first holds its slot")
	}
	first.writeBytes(t, firstMsg[1:])
	expectConnack(t, first, hostA)
	expectConnack(t, sameSite, hostB)
}
