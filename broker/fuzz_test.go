package broker_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// FuzzConnection feeds arbitrary bytes to a broker connection after a valid
// CONNECT (MQTT 3.1.1 or 5, chosen by the first byte) and checks the broker
// still accepts and serves a new client afterwards. Panics inside mochi are
// allowed (they are recovered and counted); dying or hanging is not.
func FuzzConnection(f *testing.F) {
	tb := startBroker(f, nil)
	var pub bytes.Buffer
	pk := rawPublish(topics.HelloTopic(hostA), 1, 1)
	pk.ProtocolVersion = 4
	if err := pk.PublishEncode(&pub); err != nil {
		f.Fatal(err)
	}
	f.Add(byte(5), truncatedSubscribeV5)
	f.Add(byte(4), truncatedSubscribeV5)
	f.Add(byte(4), pub.Bytes())
	f.Add(byte(5), []byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add(byte(4), []byte{0x10, 0x00})                   // a second CONNECT
	f.Add(byte(5), []byte{0xe0, 0x02, 0x04, 0x00})       // DISCONNECT with Will
	f.Add(byte(5), []byte{0xa2, 0x03, 0x00, 0x01, 0x00}) // UNSUBSCRIBE, no filter
	f.Add(byte(4), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	// #9's topic-filter amplification: deep, long and many filters inside
	// the client's own down/#, and an UNSUBSCRIBE of a deep one.
	for _, v := range []byte{4, 5} {
		f.Add(v, subscribePacket(f, v, 1, amplificationFilters(hostA)...))
		f.Add(v, subscribePacket(f, v, 2, deepFilter(hostA, 0, 5000)))
		f.Add(v, subscribePacket(f, v, 3, topics.HostDownFilter(hostA)+strings.Repeat("x", 300)))
		f.Add(v, subscribePacket(f, v, 4, manyFilters(hostA, 300)...))
		f.Add(v, unsubscribePacket(f, v, 5, deepFilter(hostA, 0, 5000)))
	}
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		v := byte(4)
		if version%2 == 1 {
			v = 5
		}
		c := dialRaw(t, tb.TCPAddr())
		if code := c.connect(t, connectPacket(v, hostA, password(hostA))); code != 0 {
			t.Fatalf("CONNACK %#x", code)
		}
		_, _ = c.conn.Write(data)
		_ = c.conn.Close()

		probe := dialRaw(t, tb.TCPAddr())
		if code := probe.connect(t, connectPacket(4, hostB, password(hostB))); code != 0 {
			t.Fatalf("broker stopped serving: CONNACK %#x", code)
		}
		_ = probe.conn.Close()
	})
}
