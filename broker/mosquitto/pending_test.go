package mosquitto_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker/mosquitto/mosquittotest"
	"github.com/restic-manager/restic-manager/topics"
)

func pendingID(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return topics.PendingID(pub)
}

// TestPendingACLOnMosquitto provisions a pending client and checks that
// Mosquitto enforces the pending row of the ACL: it logs in only with its
// password and its own client ID, its announce request reaches the server
// named by its ID, it may subscribe to its own answer topic and nothing
// else (not another's answers, not a wildcard over them, not a host's
// down/), its publishes elsewhere are dropped, the server's answer reaches
// it; provisioning again replaces the password and the expiry;
// PendingClients lists it with its expiry; Disconnect kicks it and keeps it
// out.
func TestPendingACLOnMosquitto(t *testing.T) {
	mb := mosquittotest.Start(t)
	bus := connectBus(t, mb, "server-1")
	var in inbox
	if err := bus.SubscribeShared(topics.AllAnnounceReqFilter, in.add); err != nil {
		t.Fatal(err)
	}
	if err := bus.SubscribeShared(topics.AllHostsUpFilter, in.add); err != nil {
		t.Fatal(err)
	}
	p, other := pendingID(t), pendingID(t)
	host := topics.RandomID(topics.HostIDPrefix)
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := bus.ProvisionPending(p, "first-password-of-pending", expires); err != nil {
		t.Fatalf("provision: %v\n%s", err, mb.Log())
	}
	if err := bus.ProvisionPending(other, "password-of-the-other-one", expires); err != nil {
		t.Fatal(err)
	}
	later := expires.Add(time.Hour)
	if err := bus.ProvisionPending(p, "second-password-of-pending", later); err != nil {
		t.Fatalf("provision again: %v", err)
	}
	if err := bus.ProvisionPending(host, "x", later); err == nil {
		t.Fatal("a host ID was provisioned as a pending client")
	}
	if _, err := agentClient(t, mb, p, "first-password-of-pending"); err == nil {
		t.Fatal("the replaced password still logs in")
	}
	if _, err := agentClient(t, mb, "someone-"+p, "second-password-of-pending"); err == nil {
		t.Fatal("the pending client logged in under another client ID")
	}
	c, err := agentClient(t, mb, p, "second-password-of-pending")
	if err != nil {
		t.Fatalf("pending client with its password: %v\n%s", err, mb.Log())
	}
	list, err := bus.PendingClients()
	if err != nil || len(list) != 2 || !list[p].Equal(later) || !list[other].Equal(expires) {
		t.Fatalf("PendingClients = %v, %v; want %s until %s and %s until %s", list, err, p, later, other, expires)
	}

	for filter, want := range map[string]byte{
		topics.AnnounceRespTopic(p):        1,
		topics.AnnounceRespTopic(other):    0x80,
		topics.Prefix + "/announce/+/resp": 0x80,
		topics.HostDownFilter(host):        0x80,
		topics.AnnounceReqTopic(other):     0x80,
	} {
		if code := subscribeResult(t, c, filter); code != want {
			t.Errorf("pending client subscribing to %s: SUBACK %#x, want %#x", filter, code, want)
		}
	}
	got := make(chan string, 4)
	c.Subscribe(topics.AnnounceRespTopic(p), 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() })

	// Forged publishes (another pending client's request, a host's up/),
	// then its own request: only the last reaches the server.
	for _, tp := range []string{topics.AnnounceReqTopic(other), topics.Topic{Kind: topics.KindHello, Host: host}.String(),
		topics.AnnounceReqTopic(p)} {
		if tok := c.Publish(tp, 1, false, []byte(`{}`)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", tp, tok.Error())
		}
	}
	waitFor(t, "the pending client's own request at the server", func() bool { return len(in.snapshot()) > 0 })
	for _, m := range in.snapshot() {
		if m.Topic != topics.AnnounceReqTopic(p) || m.ClientID != p {
			t.Fatalf("server got %s from %q; only %s may arrive", m.Topic, m.ClientID, topics.AnnounceReqTopic(p))
		}
	}
	if err := bus.Publish(topics.AnnounceRespTopic(p), []byte(`{}`), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case tp := <-got:
		if tp != topics.AnnounceRespTopic(p) {
			t.Fatalf("answer on %s", tp)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server's answer did not reach the pending client")
	}

	bus.Disconnect(p)
	waitFor(t, "the deleted pending client kicked", func() bool { return !c.IsConnectionOpen() })
	if _, err := agentClient(t, mb, p, "second-password-of-pending"); err == nil {
		t.Fatal("a deleted pending client connected again")
	}
	if list, err := bus.PendingClients(); err != nil || len(list) != 1 || list[other].IsZero() {
		t.Fatalf("PendingClients after deleting %s = %v, %v", p, list, err)
	}
}
