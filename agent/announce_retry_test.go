package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// How a waiting agent copes with a server that does not answer, with
// waiting long, and with a flaky link.

// TestAnnounceRetriesUnansweredHello: the server ignores a hello over its
// per-address limit; the agent tries again and gets through.
func TestAnnounceRetriesUnansweredHello(t *testing.T) {
	agent.SetAnnounceTimings(t, 100*time.Millisecond, time.Hour)
	f := newAnnounceFixture(t)
	f.double.Silence(1)
	f.start(t, f.opts())
	peer := f.waitPending(t, 1)
	if peer.Hellos != 2 {
		t.Fatalf("%d hellos, want the ignored one and a second", peer.Hellos)
	}
	f.logs.waitFor(t, "the server did not answer within 100ms")
	f.banner.waitFor(t, peer.Fingerprint)
}

// TestAnnounceRepeatsWhileWaiting: a waiting agent announces again on its
// connection now and then, so the server sees it is still there; the
// banner is not repeated.
func TestAnnounceRepeatsWhileWaiting(t *testing.T) {
	agent.SetAnnounceTimings(t, 10*time.Second, 20*time.Millisecond)
	f := newAnnounceFixture(t)
	f.start(t, f.opts())
	first := f.waitPending(t, 1)
	later := f.waitPending(t, 3)
	if later.Conn != first.Conn {
		t.Fatalf("re-announced on connection %d, want the same connection %d", later.Conn, first.Conn)
	}
	f.logs.waitFor(t, "still waiting for approval")
	if n := strings.Count(f.banner.String(), "waiting for approval"); n != 1 {
		t.Fatalf("banner printed %d times", n)
	}
}

// TestAnnounceSkipsStaleChallenge: the server keeps one open challenge per
// client, replaced by every hello and used up by any proof. A second
// challenge after the one the agent answered on this connection means the
// first was stale, so the agent must announce again rather than wait for a
// status that will not come (the answer timeout here is longer than the
// test waits). (Before #9 the stale challenge came from a persistent
// session across a cut; the broker keeps no pending session any more, but a
// re-announce can still cross a challenge in flight.)
func TestAnnounceSkipsStaleChallenge(t *testing.T) {
	agent.SetAnnounceTimings(t, time.Minute, time.Hour)
	f := newAnnounceFixture(t)
	f.start(t, f.opts())
	peer := f.waitPending(t, 1)
	f.banner.waitFor(t, peer.Fingerprint)

	f.double.Rechallenge(t, peer.Client)
	f.logs.waitFor(t, "a second challenge for one announce")
	again := f.waitPending(t, 2)
	if again.Hellos < 2 || again.Conn != peer.Conn {
		t.Fatalf("after the second challenge: %d hellos on connection %d, want a new hello on connection %d",
			again.Hellos, again.Conn, peer.Conn)
	}
}

// TestAnnounceSessionNotKept: the pending client asks for a clean session,
// and the broker keeps nothing for it after a cut: a challenge sent while
// the link is down is never delivered, and the next connection announces
// again and gets the machine's state afresh.
func TestAnnounceSessionNotKept(t *testing.T) {
	agent.SetAnnounceTimings(t, time.Minute, time.Hour)
	f := newAnnounceFixture(t)
	p := f.viaProxy(t)
	f.start(t, f.opts())
	peer := f.waitPending(t, 1)

	p.pause(true)
	p.cut()
	waitDisconnect(t, f.broker, peer.Client)
	f.double.Rechallenge(t, peer.Client) // sent to nobody
	p.pause(false)

	f.waitPending(t, 2)
	if refused := f.double.Refused(); len(refused) != 0 {
		t.Fatalf("a challenge sent while the link was down reached the agent: %q", refused)
	}
	if strings.Contains(f.logs.String(), "a second challenge for one announce") {
		t.Fatal("the agent got a challenge of an earlier connection")
	}
}

// TestAnnounceApprovalQueuedDuringOutage: an approval made while the link
// is down reaches the agent after it reconnects: the broker keeps no pending
// session, but the next announce gets the approval again.
func TestAnnounceApprovalQueuedDuringOutage(t *testing.T) {
	f := newAnnounceFixture(t)
	p := f.viaProxy(t)
	run := f.start(t, f.opts())
	peer := f.waitPending(t, 1)
	f.banner.waitFor(t, peer.Fingerprint)

	p.pause(true)
	p.cut()
	waitDisconnect(t, f.broker, peer.Client)
	creds := f.newApprovedHost(t)
	f.double.Approve(t, peer.Client, creds)
	p.pause(false)

	cfg, err := run.result(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HostID != creds.HostID || cfg.MQTTURL != f.mqttURL {
		t.Fatalf("config %s", cfg)
	}
}

// viaProxy puts a proxy the test can cut between the agent and the broker's
// TLS listener, and points the bootstrap answer at it.
func (f *announceFixture) viaProxy(t *testing.T) *proxy {
	t.Helper()
	p := startProxy(t, f.broker.TLSAddr())
	f.mqttURL = "mqtts://" + p.Addr().String()
	f.boot = agenttest.NewBootstrapServer(t, f.ca.ServerTLS(t), topics.BootstrapResponse{
		MQTTURL: f.mqttURL, CACert: f.ca.PEM, CAFingerprint: f.ca.Fingerprint(),
	})
	return p
}
