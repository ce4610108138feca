package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestRejectPendingHost: a rejected machine is told, leaves the list, and
// its key is turned away until the row expires; then it may announce again.
func TestRejectPendingHost(t *testing.T) {
	s, pub, clock := announceFixture(t, server.Options{})
	ctx := t.Context()
	agent := servertest.NewPendingAgent(t, "intruder")
	agent.Announce(t, s, pub, 1, "203.0.113.5:1")
	id := mustListPending(t, s)[0].ID

	if err := s.RejectPendingHost(ctx, server.Actor{Name: "op", Role: server.RoleOperator}, id); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator rejected: %v", err)
	}
	if err := s.RejectPendingHost(ctx, server.CLIActor(), id); err != nil {
		t.Fatal(err)
	}
	if st := agent.LastStatus(t, pub); st.State != topics.AnnounceRejected || st.Message == "" {
		t.Fatalf("status after reject = %+v", st)
	}
	if e := lastAuditRow(t, s); e.Action != "pending_host.reject" || e.Target != "intruder" {
		t.Fatalf("audit = %+v", e)
	}
	if len(mustListPending(t, s)) != 0 {
		t.Fatal("a rejected machine is listed")
	}
	if _, err := s.AcceptPendingHost(ctx, server.CLIActor(), id, "intruder", nil); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Fatalf("accepting a rejected machine: %v", err)
	}
	if st := agent.Announce(t, s, pub, 2, "203.0.113.5:2"); st == nil || st.State != topics.AnnounceRejected {
		t.Fatalf("re-announce after reject = %+v", st)
	}
	if len(mustListPending(t, s)) != 0 {
		t.Fatal("a re-announce brought a rejected machine back")
	}

	clock.Advance(24 * time.Hour)
	if err := s.SweepPendingHosts(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "pending_hosts"); n != 0 {
		t.Fatalf("%d rows after expiry", n)
	}
	if st := agent.Announce(t, s, pub, 3, "203.0.113.5:3"); st == nil || st.State != topics.AnnouncePending {
		t.Fatalf("announce after the rejection expired = %+v", st)
	}
}

// TestAnnounceRateLimitPerAddress: ten hellos a minute per source address;
// the eleventh goes unanswered, other addresses are unaffected, and the next
// minute the address may announce again.
func TestAnnounceRateLimitPerAddress(t *testing.T) {
	s, pub, clock := announceFixture(t, server.Options{})
	for i := range 10 {
		if servertest.NewPendingAgent(t, "a").SendHello(t, s, pub, uint64(i+1), fmt.Sprintf("192.0.2.7:%d", 1000+i)) == nil {
			t.Fatalf("hello %d refused", i+1)
		}
	}
	late := servertest.NewPendingAgent(t, "late")
	if late.SendHello(t, s, pub, 100, "192.0.2.7:2000") != nil {
		t.Fatal("the 11th hello from one address in a minute was answered")
	}
	if servertest.NewPendingAgent(t, "b").SendHello(t, s, pub, 101, "192.0.2.8:1000") == nil {
		t.Fatal("another address was limited too")
	}
	clock.Advance(time.Minute)
	if st := late.Announce(t, s, pub, 102, "192.0.2.7:2001"); st == nil || st.State != topics.AnnouncePending {
		t.Fatalf("after a minute: %+v", st)
	}
}

// TestPendingHostsExpire: a machine nobody accepts disappears after 24 h and
// is told; Service.Run does the sweeping.
func TestPendingHostsExpire(t *testing.T) {
	s, pub, clock := announceFixture(t, server.Options{Announce: server.AnnounceOptions{SweepEvery: 5 * time.Millisecond}})
	agent := servertest.NewPendingAgent(t, "forgotten")
	agent.Announce(t, s, pub, 1, "192.0.2.3:1")
	clock.Advance(23 * time.Hour)
	if err := s.SweepPendingHosts(t.Context()); err != nil || len(mustListPending(t, s)) != 1 {
		t.Fatalf("swept before 24 h: %v", err)
	}
	clock.Advance(time.Hour)
	if len(mustListPending(t, s)) != 0 {
		t.Fatal("an expired machine is listed")
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for countRows(t, s, "pending_hosts") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not sweep the expired row")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if st := agent.LastStatus(t, pub); st == nil || st.State != topics.AnnounceRejected || !strings.Contains(st.Message, "announce command again") {
		t.Fatalf("expired machine told %+v", st)
	}
}

// TestPendingHostNameConflictAndAcceptRules: a hostname that an existing host
// has as its name or hostname is flagged; accepting checks the name like
// enrollment does and changes nothing when it fails.
func TestPendingHostNameConflictAndAcceptRules(t *testing.T) {
	s, pub, _ := announceFixture(t, server.Options{})
	ctx := t.Context()
	enrollTestHost(t, s, "web-01")
	servertest.NewPendingAgent(t, "WEB-01").Announce(t, s, pub, 1, "192.0.2.1:1")
	servertest.NewPendingAgent(t, "db-01").Announce(t, s, pub, 2, "192.0.2.2:1")
	list := mustListPending(t, s)
	if len(list) != 2 || !list[0].NameConflict || list[1].NameConflict {
		t.Fatalf("conflict flags: %+v", list)
	}

	hosts := countRows(t, s, "hosts")
	for _, name := range []string{"", "-x", "a b", "x/y"} {
		if _, err := s.AcceptPendingHost(ctx, server.CLIActor(), list[0].ID, name, nil); server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, err := s.AcceptPendingHost(ctx, server.CLIActor(), list[0].ID, "web-01", nil); server.ErrorCodeOf(err) != server.CodeConflict {
		t.Fatalf("taken name: %v", err)
	}
	if _, err := s.AcceptPendingHost(ctx, server.CLIActor(), 9999, "other", nil); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("unknown id: %v", err)
	}
	if got := countRows(t, s, "hosts"); got != hosts || len(mustListPending(t, s)) != 2 {
		t.Fatal("a refused accept changed something")
	}
	if _, err := s.AcceptPendingHost(ctx, server.CLIActor(), list[0].ID, "web-02", nil); err != nil {
		t.Fatal(err)
	}
}

// TestAcceptedRowEndsAfterRestart: if the server restarts between the accept
// and the host's first connection (the in-memory "awaited" mark is lost),
// the sweep still removes the row once the host has connected.
func TestAcceptedRowEndsAfterRestart(t *testing.T) {
	s, pub, _ := announceFixture(t, server.Options{})
	ctx := t.Context()
	servertest.NewPendingAgent(t, "late-bloomer").Announce(t, s, pub, 1, "192.0.2.4:1")
	hostID, err := s.AcceptPendingHost(ctx, server.CLIActor(), mustListPending(t, s)[0].ID, "late-bloomer", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ForgetArrival(hostID) // what a restart forgets
	if err := s.SweepPendingHosts(ctx); err != nil || countRows(t, s, "pending_hosts") != 1 {
		t.Fatalf("swept an accepted row before its host connected: %v", err)
	}
	s.Presence().Connected(hostID, 5, "192.0.2.4:2")
	if err := s.Presence().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SweepPendingHosts(ctx); err != nil || countRows(t, s, "pending_hosts") != 0 {
		t.Fatalf("accepted row left after its host connected: %v", err)
	}
}
