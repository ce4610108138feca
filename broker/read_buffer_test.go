package broker_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// TestReadBuffersPerConnection checks what a connected client's reads are
// buffered in: over TLS only tls.Conn's own record (mochi's bufio.Reader
// at its 16-byte minimum, not a second 2 KiB per agent), over plain TCP
// one buffer of 2 KiB as before, so a small packet is still read in one
// system call.
func TestReadBuffersPerConnection(t *testing.T) {
	cert, pool := selfSigned(t)
	tb := startBroker(t, func(c *broker.Config) {
		c.TLSAddr = "127.0.0.1:0"
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})

	plain := dialRaw(t, tb.TCPAddr())
	if code := plain.connect(t, connectPacket(4, hostA, password(hostA))); code != 0 {
		t.Fatalf("plain CONNECT: reason %d", code)
	}
	raw, err := net.DialTimeout("tcp", tb.TLSAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	tc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	overTLS := &rawClient{conn: tc, r: bufio.NewReader(tc), version: 4}
	if code := overTLS.connect(t, connectPacket(4, hostB, password(hostB))); code != 0 {
		t.Fatalf("TLS CONNECT: reason %d", code)
	}

	for _, c := range []struct {
		id, listener string
		want         int
	}{{hostA, "plain", 2 << 10}, {hostB, "TLS", 16}} {
		mochi, ours, ok := tb.ReadBuffers(c.id)
		if !ok {
			t.Fatalf("%s client %s is not connected", c.listener, c.id)
		}
		if got := max(mochi, ours); got != c.want || min(mochi, ours) > 16 {
			t.Errorf("%s connection reads through buffers of %d B (mochi's) and %d B (ours), want one of %d B and none above 16 B beside it",
				c.listener, mochi, ours, c.want)
		}
	}

	// Both still read what follows the CONNECT: a SUBSCRIBE, and then a
	// message the server publishes to it.
	for i, c := range []struct {
		rc *rawClient
		id string
	}{{plain, hostA}, {overTLS, hostB}} {
		if ack := c.rc.ack(t, subscribePacket(t, 4, 1, topics.HostDownFilter(c.id)), packets.Suback); ack.ReasonCodes[0] != 1 {
			t.Fatalf("%s: SUBACK %v, want QoS 1 granted", c.id, ack.ReasonCodes)
		}
		topic := topics.CmdTopic(c.id)
		if err := tb.Publish(topic, payload(c.id), false, 0); err != nil {
			t.Fatal(err)
		}
		pk, err := c.rc.read()
		if err != nil || pk.TopicName != topic {
			t.Fatalf("client %d: got %q, %v; want the publish to %s", i, pk.TopicName, err, topic)
		}
	}
}
