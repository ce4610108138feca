package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// TestPendingKeepaliveRequired: a pending client (no secret) must ask for a
// keepalive, so a silent one is closed; keepalive 0 (never) or longer than
// MaxPendingKeepalive is refused, on MQTT 3.1.1 and 5. Hosts are not
// affected.
func TestPendingKeepaliveRequired(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	for _, c := range []struct {
		version   byte
		keepalive uint16
		ok        bool
	}{
		{4, 0, false}, {5, 0, false}, {4, 301, false}, {5, 3600, false},
		{4, 30, true}, {5, 300, true},
	} {
		pk := connectPacket(c.version, pendingP, password(pendingP))
		pk.Connect.Keepalive = c.keepalive
		raw := dialRaw(t, tb.TCPAddr())
		code := raw.connect(t, pk)
		if c.ok {
			if code != 0 {
				t.Errorf("MQTT %d keepalive %d: CONNACK %#x, want accepted", c.version, c.keepalive, code)
			}
			_ = raw.conn.Close()
			continue
		}
		want := packets.ErrBadUsernameOrPassword.Code
		if c.version == 4 {
			want = packets.Err3NotAuthorized.Code
		}
		if code != want {
			t.Errorf("MQTT %d keepalive %d: CONNACK %#x, want %#x", c.version, c.keepalive, code, want)
		}
		if !raw.closedByBroker(5 * time.Second) {
			t.Errorf("MQTT %d keepalive %d: the refused connection is still open", c.version, c.keepalive)
		}
	}
	host := connectPacket(4, hostA, password(hostA))
	host.Connect.Keepalive = 0
	if code := dialRaw(t, tb.TCPAddr()).connect(t, host); code != 0 {
		t.Errorf("a host with keepalive 0: CONNACK %#x", code)
	}
}

// TestPendingSessionNotKept: whatever a pending client asks for (3.1.1
// clean session off, MQTT 5 a long session expiry), its session ends with
// its connection; a host's persistent session is still kept.
func TestPendingSessionNotKept(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	for _, v := range []byte{4, 5} {
		for _, id := range []string{pendingP, hostA} {
			pk := connectPacket(v, id, password(id))
			pk.Connect.Clean = false
			if v == 5 {
				pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 8*24*3600, true
			}
			first := dialRaw(t, tb.TCPAddr())
			if code := first.connect(t, pk); code != 0 {
				t.Fatalf("MQTT %d %s: CONNACK %#x", v, id, code)
			}
			filter := topics.HostDownFilter(hostA)
			if id == pendingP {
				filter = topics.AnnounceRespTopic(pendingP)
			}
			if ack := first.ack(t, subscribePacket(t, v, 1, filter), packets.Suback); ack.ReasonCodes[0] != 1 {
				t.Fatalf("MQTT %d %s: SUBACK %#x", v, id, ack.ReasonCodes[0])
			}
			_ = first.conn.Close()
			if id == pendingP {
				waitFor(t, "the pending session to end with its connection", func() bool {
					_, ok := tb.Mochi().Clients.Get(id)
					return !ok
				})
			} else {
				waitFor(t, "the host's disconnect", func() bool {
					cl, ok := tb.Mochi().Clients.Get(id)
					return ok && cl.Closed()
				})
			}
			again := dialRaw(t, tb.TCPAddr())
			ack := again.connack(t, pk)
			if ack.ReasonCode != 0 {
				t.Fatalf("MQTT %d %s again: CONNACK %#x", v, id, ack.ReasonCode)
			}
			if want := id == hostA; ack.SessionPresent != want {
				t.Errorf("MQTT %d %s: session present %v, want %v", v, id, ack.SessionPresent, want)
			}
			_ = again.conn.Close()
		}
	}
}

// TestPendingCaps: at most MaxPendingPerAddr pending clients from one
// address and MaxPending in all are connected at once. One more is refused
// with "server unavailable" (it did nothing wrong: it is not counted as a
// failed login) and gets in once a slot is free. Hosts are not capped.
func TestPendingCaps(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *broker.Config) {
		c.MaxPendingPerAddr = 2
		c.MaxPending = 3
		c.MaxAuthFailuresPerAddr = 1 // a refusal counted as a failed login would block the address
	})
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = fmt.Sprintf("p_cap%d", i)
		if err := tb.auth.Add(broker.Identity{Role: broker.RolePending, ID: ids[i]}, password(ids[i])); err != nil {
			t.Fatal(err)
		}
	}
	conns := map[string]*rawClient{}
	try := func(from, id string, v byte) byte {
		c := dialRawFrom(t, tb.TCPAddr(), from)
		conns[id] = c
		return c.connect(t, connectPacket(v, id, password(id)))
	}
	for _, step := range []struct {
		from, id string
		v, want  byte
	}{
		{"127.0.0.1", ids[0], 4, 0},
		{"127.0.0.1", ids[1], 5, 0},
		{"127.0.0.1", ids[2], 4, packets.Err3ServerUnavailable.Code}, // per address
		{"127.0.0.2", ids[2], 5, 0},
		{"127.0.0.3", ids[3], 5, packets.ErrServerUnavailable.Code}, // in all
		{"127.0.0.3", ids[3], 4, packets.Err3ServerUnavailable.Code},
	} {
		if code := try(step.from, step.id, step.v); code != step.want {
			t.Errorf("%s from %s (MQTT %d): CONNACK %#x, want %#x", step.id, step.from, step.v, code, step.want)
		}
	}
	if code := dialRaw(t, tb.TCPAddr()).connect(t, connectPacket(4, hostA, password(hostA))); code != 0 {
		t.Errorf("a host from a capped address: CONNACK %#x", code)
	}
	if s := tb.Stats(); s.Unavailable != 3 || s.AuthFailures != 0 {
		t.Errorf("stats = %+v, want 3 unavailable and no auth failure", s)
	}

	_ = conns[ids[0]].conn.Close()
	waitFor(t, "the closed pending client's slot", func() bool { return tb.PendingSlotsTaken() == 2 })
	if code := try("127.0.0.3", ids[4], 4); code != 0 {
		t.Errorf("after a slot was freed: CONNACK %#x", code)
	}
	if code := try("127.0.0.1", ids[0], 4); code != packets.Err3ServerUnavailable.Code {
		t.Errorf("over the cap in all again: CONNACK %#x", code)
	}
}
