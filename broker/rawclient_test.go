package broker_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawClient speaks MQTT byte by byte, for what paho cannot do: MQTT 5, broken
// packets, silence.
type rawClient struct {
	conn    net.Conn
	r       *bufio.Reader
	version byte
}

func dialRaw(t testing.TB, addr net.Addr) *rawClient {
	t.Helper()
	return dialRawFrom(t, addr, "")
}

// dialRawFrom dials from the local IP from ("" = any): on Linux every
// 127.0.0.0/8 address is loopback, so a test can play several sites.
func dialRawFrom(t testing.TB, addr net.Addr, from string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{conn: conn, r: bufio.NewReader(conn), version: 4}
}

func (c *rawClient) writeBytes(t testing.TB, b []byte) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// connectPacket builds a CONNECT with client ID = username = id.
func connectPacket(version byte, id, pw string) packets.Packet {
	return packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
			ClientIdentifier: id, UsernameFlag: true, Username: []byte(id),
			PasswordFlag: true, Password: []byte(pw),
		},
	}
}

// connect sends pk (a CONNECT) and returns the CONNACK reason code.
func (c *rawClient) connect(t testing.TB, pk packets.Packet) byte {
	t.Helper()
	return c.connack(t, pk).ReasonCode
}

// connack sends pk (a CONNECT) and returns the CONNACK.
func (c *rawClient) connack(t testing.TB, pk packets.Packet) packets.Packet {
	t.Helper()
	c.version = pk.ProtocolVersion
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	c.writeBytes(t, buf.Bytes())
	ack, err := c.read()
	if err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("got %s, want CONNACK", packets.PacketNames[ack.FixedHeader.Type])
	}
	return ack
}

func (c *rawClient) publish(t *testing.T, pk packets.Packet) {
	t.Helper()
	pk.FixedHeader.Type = packets.Publish
	pk.ProtocolVersion = c.version
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	c.writeBytes(t, buf.Bytes())
}

// read reads and decodes one packet from the broker (5 s deadline).
func (c *rawClient) read() (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = c.version
	pk.FixedHeader.Remaining = n
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// closedByBroker reports whether the broker closes the connection within
// timeout (reading and discarding anything it still sends).
func (c *rawClient) closedByBroker(timeout time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // EOF (err == nil) or reset
}

// rawPublish builds a PUBLISH with a marked payload.
func rawPublish(topic string, qos byte, id uint16) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		PacketID:    id,
		Payload:     payload(topic),
	}
}

// subscribePacket encodes a SUBSCRIBE of filters at QoS 1 for MQTT version v.
func subscribePacket(t testing.TB, v byte, id uint16, filters ...string) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id, ProtocolVersion: v}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unsubscribePacket encodes an UNSUBSCRIBE of filters for MQTT version v.
func unsubscribePacket(t testing.TB, v byte, id uint16, filters ...string) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: id, ProtocolVersion: v}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f})
	}
	var buf bytes.Buffer
	if err := pk.UnsubscribeEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ack writes a packet and returns the next packet the broker sends, which
// must be of type want (SUBACK, UNSUBACK).
func (c *rawClient) ack(t testing.TB, packet []byte, want byte) packets.Packet {
	t.Helper()
	c.writeBytes(t, packet)
	pk, err := c.read()
	if err != nil {
		t.Fatalf("read %s: %v", packets.PacketNames[want], err)
	}
	if pk.FixedHeader.Type != want {
		t.Fatalf("got %s, want %s", packets.PacketNames[pk.FixedHeader.Type], packets.PacketNames[want])
	}
	return pk
}
