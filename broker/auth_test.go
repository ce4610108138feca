package broker_test

import (
	"errors"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// TestConnectRefused checks every way a CONNECT must be refused, with real
// paho clients, and that refusals produce no OnConnect.
func TestConnectRefused(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	cases := []struct {
		name string
		id   string
		opts func(*paho.ClientOptions)
	}{
		{"wrong password", hostA, func(o *paho.ClientOptions) { o.SetPassword(password(hostB)) }},
		{"no password", hostA, func(o *paho.ClientOptions) { o.SetPassword("") }},
		{"anonymous", hostA, func(o *paho.ClientOptions) { o.SetUsername("").SetPassword("") }},
		{"client id differs from username (session takeover attempt)", hostB,
			func(o *paho.ClientOptions) { o.SetUsername(hostA).SetPassword(password(hostA)) }},
		{"client id differs from username (own credentials)", "h_other",
			func(o *paho.ClientOptions) { o.SetUsername(hostA).SetPassword(password(hostA)) }},
		{"unknown host", "h_unknown", nil},
		{"username without a known prefix", "admin", nil},
		{"will on another host's topic", hostA,
			func(o *paho.ClientOptions) { o.SetWill(topics.StatusTopic(hostB), "offline", 0, false) }},
		{"will on own down topic", hostA,
			func(o *paho.ClientOptions) { o.SetWill(topics.CmdTopic(hostA), "offline", 0, false) }},
		{"will with a wildcard", hostA,
			func(o *paho.ClientOptions) { o.SetWill(topics.HostUpFilter(hostA), "offline", 0, false) }},
		{"monitor with any will", monitor,
			func(o *paho.ClientOptions) { o.SetWill(topics.MonitorEventsTopic(), "x", 0, false) }},
		{"pending with a will on another pending client", pendingP,
			func(o *paho.ClientOptions) { o.SetWill(topics.AnnounceReqTopic(pendingQ), "x", 0, false) }},
	}
	for i, c := range cases {
		var opts []func(*paho.ClientOptions)
		if c.opts != nil {
			opts = append(opts, c.opts)
		}
		_, err := dialPaho(t, tb.addr, c.id, opts...)
		if err == nil {
			t.Errorf("%s: connected, want refused", c.name)
			continue
		}
		if got := tb.Stats().AuthFailures; got != uint64(i+1) {
			t.Errorf("%s: AuthFailures = %d, want %d", c.name, got, i+1)
		}
	}
	if ev := tb.presence.all(); len(ev) != 0 {
		t.Errorf("refused connections produced presence events: %+v", ev)
	}
	if tb.Stats().Connections != 0 {
		t.Errorf("Connections = %d, want 0", tb.Stats().Connections)
	}

	// The same clients connect with their own credentials and Will topic.
	mustPaho(t, tb.addr, hostA, func(o *paho.ClientOptions) {
		o.SetWill(topics.StatusTopic(hostA), "offline", 1, false)
	})
	mustPaho(t, tb.addr, pendingP, func(o *paho.ClientOptions) {
		o.SetWill(topics.AnnounceReqTopic(pendingP), "gone", 0, false)
	})
	mustPaho(t, tb.addr, monitor)
}

// TestAuthenticatorError: a failing authenticator (the server's database
// busy or down) is the server's fault, not the client's. The client is told
// "server unavailable" (MQTT 5: 0x88, 3.1.1: 0x03), which paho and our agent
// retry on their normal short backoff, and the refusal does not count
// against the address (it may be a whole site behind one NAT), even past
// MaxAuthFailuresPerAddr.
func TestAuthenticatorError(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *broker.Config) { c.MaxAuthFailuresPerAddr = 1 })
	tb.auth.SetError(errors.New("database is locked"))
	for i := 0; i < 3; i++ {
		_, err := dialPaho(t, tb.addr, hostA)
		if !errors.Is(err, pahopackets.ErrorRefusedServerUnavailable) {
			t.Fatalf("attempt %d while the authenticator fails: %v, want CONNACK server unavailable", i+1, err)
		}
	}
	if code := dialRaw(t, tb.TCPAddr()).connect(t, connectPacket(5, hostA, password(hostA))); code != packets.ErrServerUnavailable.Code {
		t.Errorf("MQTT 5 CONNACK %#x, want %#x (server unavailable)", code, packets.ErrServerUnavailable.Code)
	}
	if code := dialRaw(t, tb.TCPAddr()).connect(t, connectPacket(4, hostA, password(hostA))); code != packets.Err3ServerUnavailable.Code {
		t.Errorf("MQTT 3.1.1 CONNACK %#x, want %#x (server unavailable)", code, packets.Err3ServerUnavailable.Code)
	}
	tb.auth.SetError(nil)
	mustPaho(t, tb.addr, hostA)
	if s := tb.Stats(); s.Unavailable != 5 || s.AuthFailures != 0 || s.RateLimited != 0 {
		t.Errorf("stats = %+v, want 5 unavailable, no auth failure, nothing rate limited", s)
	}

	// A real credential refusal is still "not authorized" and still counts.
	_, err := dialPaho(t, tb.addr, hostA, func(o *paho.ClientOptions) { o.SetPassword("wrong") })
	if !errors.Is(err, pahopackets.ErrorRefusedNotAuthorised) {
		t.Errorf("wrong password: %v, want CONNACK not authorized", err)
	}
	if _, err := dialPaho(t, tb.addr, hostA); err == nil {
		t.Error("the address was not blocked after MaxAuthFailuresPerAddr real refusals")
	}
}

// TestIdentityMismatchRefused: the broker does not trust an authenticator
// that returns someone else's identity.
func TestIdentityMismatchRefused(t *testing.T) {
	t.Parallel()
	b, err := broker.New(broker.Config{TCPAddr: "127.0.0.1:0"}, liar{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := dialPaho(t, "tcp://"+b.TCPAddr().String(), hostA); err == nil {
		t.Fatal("connected with an identity that does not match the username")
	}
}

type liar struct{}

func (liar) Authenticate(string, []byte) (broker.Identity, error) {
	return broker.Identity{Role: broker.RoleHost, ID: hostB}, nil
}
