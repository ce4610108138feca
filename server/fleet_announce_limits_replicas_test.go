package server_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/broker/mosquitto"
	"github.com/restic-manager/restic-manager/broker/mosquitto/mosquittotest"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestAnnounceLimitsAcrossReplicas: two replicas on one store share one
// real Mosquitto, and an agent's bootstrap request and its hello may reach
// either. The address a bootstrap came from is the pending row's whichever
// replica gets the hello, and the limits on pending clients hold for the
// two together: one per address (MaxPending 4), four in all, and three
// bootstrap requests per address and minute.
func TestAnnounceLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	mb := mosquittotest.Start(t)
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 50, 0, time.UTC))
	rs := twoAnnounceReplicas(t, clock, server.AnnounceOptions{MaxPending: 4, HellosPerAddrPerMinute: 3})
	for i, r := range rs {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		bus, err := mosquitto.Connect(ctx, mosquitto.Config{URL: mb.URL, Username: mosquittotest.AdminUser,
			Password: mb.AdminPassword, ClientID: fmt.Sprintf("rm-replica-%d", i)})
		cancel()
		if err != nil {
			t.Fatalf("connect replica %d to Mosquitto: %v\n%s", i, err, mb.Log())
		}
		t.Cleanup(func() { bus.Close() })
		r.s.SetDisconnecter(bus)
	}
	a, b := rs[0], rs[1]
	bootstrap := func(r int, agent *servertest.PendingAgent, remote string) error {
		t.Helper()
		req := topics.BootstrapRequest{Client: agent.Client, IdentityKey: agent.Identity.Public().(ed25519.PublicKey),
			Password: "pending-password-" + agent.Client[len(agent.Client)-8:]}
		req.Signature = ed25519.Sign(agent.Identity, topics.BootstrapMessage(req.Client, req.Password))
		return rs[r].s.BootstrapPending(t.Context(), &req, remote)
	}

	// Bootstrap on A, hello and proof on B (conn 0: Mosquitto reports no
	// connections): the row has the bootstrap's address.
	first := servertest.NewPendingAgent(t, "first")
	if err := bootstrap(0, first, "192.0.2.7:4000"); err != nil {
		t.Fatal(err)
	}
	b.s.HandleAnnounce(topics.AnnounceReqTopic(first.Client), first.Hello(t), first.Client, 0)
	msgs := b.pub.On(topics.AnnounceRespTopic(first.Client))
	if len(msgs) != 1 {
		t.Fatalf("replica B answered the hello %d times, want a challenge", len(msgs))
	}
	var ch topics.AnnounceChallenge
	if err := topics.Decode(msgs[0].Payload, &ch); err != nil {
		t.Fatal(err)
	}
	if st := first.SendProof(t, b.s, b.pub, 0, first.Proof(t, ch.Nonce)); st == nil || st.State != topics.AnnouncePending {
		t.Fatalf("proof: %+v, want pending", st)
	}
	if list := mustListPending(t, a.s); len(list) != 1 || list[0].SourceAddr != "192.0.2.7" {
		t.Fatalf("pending hosts: %+v, want first from 192.0.2.7", list)
	}

	// One per address: a second machine behind 192.0.2.7, through B.
	if err := bootstrap(1, servertest.NewPendingAgent(t, "second"), "192.0.2.7:4001"); server.ErrorCodeOf(err) != server.CodeUnavailable {
		t.Fatalf("a second pending client from one address through the other replica = %v, want unavailable", err)
	}
	// Four in all, from four addresses through both replicas.
	third := servertest.NewPendingAgent(t, "third")
	for i, agent := range []*servertest.PendingAgent{third, servertest.NewPendingAgent(t, "fourth"), servertest.NewPendingAgent(t, "fifth")} {
		if err := bootstrap(i%2, agent, fmt.Sprintf("192.0.2.%d:4000", 8+i)); err != nil {
			t.Fatalf("pending client %d of 4: %v", i+2, err)
		}
	}
	if err := bootstrap(1, servertest.NewPendingAgent(t, "sixth"), "192.0.2.20:4000"); server.ErrorCodeOf(err) != server.CodeUnavailable {
		t.Fatalf("a fifth pending client = %v, want unavailable", err)
	}
	// Three bootstrap requests per address and minute: third's first was
	// on A; two more renew it, through B and A; the fourth is refused. The
	// minute is the address's, from its first request, not the clock's.
	clock.Advance(20 * time.Second) // 09:01:10
	for i, r := range []int{1, 0} {
		if err := bootstrap(r, third, "192.0.2.8:4000"); err != nil {
			t.Fatalf("renewal %d: %v", i+1, err)
		}
	}
	if err := bootstrap(1, third, "192.0.2.8:4000"); server.ErrorCodeOf(err) != server.CodeRateLimited {
		t.Fatalf("a fourth bootstrap from one address within a minute = %v, want rate limited", err)
	}
	clock.Advance(time.Minute)
	if err := bootstrap(1, third, "192.0.2.8:4000"); err != nil {
		t.Fatalf("a bootstrap in the next minute: %v", err)
	}
}
