package server_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// announceReplica is one of several Services on one store, with its own
// recording broker.
type announceReplica struct {
	s   *server.Service
	pub *servertest.Publisher
}

// twoAnnounceReplicas opens two Services on one store (the tests' engine:
// one SQLite file, or one PostgreSQL database) and one data directory, as
// replicas run, sharing clock, with announce options ann.
func twoAnnounceReplicas(t *testing.T, clock *servertest.Clock, ann server.AnnounceOptions) [2]announceReplica {
	t.Helper()
	dir, url := t.TempDir(), servertest.StoreURL(t)
	if url == "" {
		servertest.SeedDataDir(t, dir)
	}
	var out [2]announceReplica
	for i := range out {
		s, err := server.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{Database: url, Now: clock.Now,
			PasswordHashCost: servertest.CheapPasswordHash(), Announce: ann})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		pub := &servertest.Publisher{}
		s.SetPublisher(pub)
		out[i] = announceReplica{s: s, pub: pub}
	}
	return out
}

// TestAnnounceThroughTwoReplicas: on an external broker a hello and its
// proof may reach different replicas (conn 0: the broker reports no
// connections). A challenge one replica issued is checked by the other,
// with every rule the single server has: good once (also when both
// replicas get the same proof at once), bound to its connection, late
// after ChallengeTTL, one per client (a newer hello replaces it), and at
// most the cap open across the replicas; the sweep of either deletes the
// expired ones.
func TestAnnounceThroughTwoReplicas(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	rs := twoAnnounceReplicas(t, clock, server.AnnounceOptions{})
	a, b := rs[0], rs[1]
	agent := servertest.NewPendingAgent(t, "box")

	// The hello on A (whose bootstrap gave the address), the proof on B.
	ch := agent.SendHello(t, a.s, a.pub, 0, "192.0.2.7:4000")
	if ch == nil {
		t.Fatal("no challenge for the hello")
	}
	proof := agent.Proof(t, ch.Nonce)
	st := agent.SendProof(t, b.s, b.pub, 0, proof)
	if st == nil || st.State != topics.AnnouncePending || st.Fingerprint != agent.Fingerprint() {
		t.Fatalf("proof on the other replica: %+v, want pending", st)
	}
	list := mustListPending(t, a.s)
	if len(list) != 1 || list[0].ClientID != agent.Client || list[0].Hostname != "box" || list[0].SourceAddr != "192.0.2.7" {
		t.Fatalf("pending hosts after the proof: %+v, want box from 192.0.2.7 (the hello's replica's address)", list)
	}
	for i, r := range rs {
		if st := agent.SendProof(t, r.s, r.pub, 0, proof); st != nil {
			t.Fatalf("the proof reused on replica %d was answered: %+v", i, st)
		}
	}

	// The same proof to both replicas at once: one answer between them.
	ch = agent.SendHello(t, b.s, b.pub, 0, "192.0.2.7:4000")
	proof = agent.Proof(t, ch.Nonce)
	before := len(a.pub.On(topics.AnnounceRespTopic(agent.Client))) + len(b.pub.On(topics.AnnounceRespTopic(agent.Client)))
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { r.s.HandleAnnounce(topics.AnnounceReqTopic(agent.Client), proof, agent.Client, 0) })
	}
	wg.Wait()
	after := len(a.pub.On(topics.AnnounceRespTopic(agent.Client))) + len(b.pub.On(topics.AnnounceRespTopic(agent.Client)))
	if after-before != 1 {
		t.Fatalf("one proof sent to both replicas was answered %d times, want once", after-before)
	}

	// Bound to its connection (the embedded broker's serials).
	ch = agent.SendHello(t, a.s, a.pub, 7, "192.0.2.7:4000")
	if st := agent.SendProof(t, b.s, b.pub, 8, agent.Proof(t, ch.Nonce)); st != nil {
		t.Fatalf("a proof from another connection was answered: %+v", st)
	}

	// Late.
	ch = agent.SendHello(t, a.s, a.pub, 0, "192.0.2.7:4000")
	clock.Advance(server.ChallengeTTL)
	if st := agent.SendProof(t, b.s, b.pub, 0, agent.Proof(t, ch.Nonce)); st != nil {
		t.Fatalf("a proof after its challenge expired was answered: %+v", st)
	}

	// One per client: a second hello (on the other replica) replaces the
	// first challenge.
	first := agent.SendHello(t, a.s, a.pub, 0, "192.0.2.7:4000")
	second := agent.SendHello(t, b.s, b.pub, 0, "192.0.2.7:4000")
	if st := agent.SendProof(t, a.s, a.pub, 0, agent.Proof(t, second.Nonce)); st == nil || st.State != topics.AnnouncePending {
		t.Fatalf("the newest challenge's proof: %+v, want pending", st)
	}
	if st := agent.SendProof(t, b.s, b.pub, 0, agent.Proof(t, first.Nonce)); st != nil {
		t.Fatalf("the replaced challenge's proof was answered: %+v", st)
	}

	// The cap holds across the replicas; a client with a challenge may
	// renew it; expired ones make room; the sweep empties the table.
	for _, r := range rs {
		r.s.SetMaxOpenChallenges(2)
	}
	x, y, z := servertest.NewPendingAgent(t, "x"), servertest.NewPendingAgent(t, "y"), servertest.NewPendingAgent(t, "z")
	if x.SendHello(t, a.s, a.pub, 0, "198.51.100.1:1") == nil || y.SendHello(t, b.s, b.pub, 0, "198.51.100.2:1") == nil {
		t.Fatal("no challenge below the cap")
	}
	if ch := z.SendHello(t, a.s, a.pub, 0, "198.51.100.3:1"); ch != nil {
		t.Fatal("a third challenge was issued over a cap of 2")
	}
	if x.SendHello(t, b.s, b.pub, 0, "198.51.100.1:1") == nil {
		t.Fatal("a client at the cap could not renew its own challenge")
	}
	if n := countRows(t, a.s, "announce_challenges"); n != 2 {
		t.Fatalf("%d open challenges, want the cap (2)", n)
	}
	clock.Advance(server.ChallengeTTL)
	if z.SendHello(t, b.s, b.pub, 0, "198.51.100.3:1") == nil {
		t.Fatal("expired challenges did not make room")
	}
	clock.Advance(server.ChallengeTTL)
	if err := a.s.SweepPendingHosts(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, b.s, "announce_challenges"); n != 0 {
		t.Fatalf("%d open challenges after the sweep, want 0 (all expired)", n)
	}
}

// TestAnnounceHelloLimitWithoutAnAddress: on an external broker the address
// an announce counts under comes from the agent's bootstrap request, which
// one replica answered (PendingConnected, conn 0); a hello reaching another
// replica has no address there. Those hellos are limited per client, not
// all together: each machine gets its challenge, and one machine's hellos
// over the limit go unanswered.
func TestAnnounceHelloLimitWithoutAnAddress(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	rs := twoAnnounceReplicas(t, clock, server.AnnounceOptions{HellosPerAddrPerMinute: 2})
	a, b := rs[0], rs[1]
	hello := func(ag *servertest.PendingAgent) bool {
		before := len(b.pub.On(topics.AnnounceRespTopic(ag.Client)))
		b.s.HandleAnnounce(topics.AnnounceReqTopic(ag.Client), ag.Hello(t), ag.Client, 0)
		return len(b.pub.On(topics.AnnounceRespTopic(ag.Client))) > before
	}
	var agents []*servertest.PendingAgent
	for i := range 3 {
		ag := servertest.NewPendingAgent(t, "box")
		a.s.PendingConnected(ag.Client, 0, "203.0.113.9:4000") // replica A answered its bootstrap
		if !hello(ag) {
			t.Fatalf("machine %d's hello on the other replica got no challenge", i)
		}
		agents = append(agents, ag)
	}
	if !hello(agents[0]) {
		t.Fatal("a machine's second hello in the minute got no challenge (the limit is 2)")
	}
	if hello(agents[0]) {
		t.Fatal("a machine's third hello in the minute got a challenge over the limit of 2")
	}
}

// TestAcceptedHostArrivesOnTheOtherReplica: a machine accepted on one
// replica whose first connection reaches another ends its pending row at
// once there, once that replica's pending sweep read the accepted rows
// (before, only the accepting replica knew it awaited the host, and the
// row stayed until a sweep after the connection).
func TestAcceptedHostArrivesOnTheOtherReplica(t *testing.T) {
	clock := servertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	rs := twoAnnounceReplicas(t, clock, server.AnnounceOptions{})
	a, b := rs[0], rs[1]
	ctx := t.Context()
	servertest.NewPendingAgent(t, "kiosk").Announce(t, a.s, a.pub, 1, "192.0.2.7:4000")
	host, err := a.s.AcceptPendingHost(ctx, server.CLIActor(), mustListPending(t, a.s)[0].ID, "kiosk", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.s.SweepPendingHosts(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, b.s, "pending_hosts"); n != 1 {
		t.Fatalf("%d pending rows before the host connected, want its accepted one", n)
	}
	b.s.Presence().Connected(host, 1, "192.0.2.7:4001")
	if n := countRows(t, b.s, "pending_hosts"); n != 0 {
		t.Fatalf("%d pending rows after the accepted host connected to the other replica, want 0", n)
	}
}
