package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
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

// TestAnnounceSkipsStaleChallenge: a challenge the server sent while the
// link was down waits in the persistent session and arrives first on the
// next connection. Its proof uses up the server's one open challenge, so
// the agent must notice and announce again rather than wait for a status
// that will not come (the answer timeout here is longer than the test
// waits).
func TestAnnounceSkipsStaleChallenge(t *testing.T) {
	agent.SetAnnounceTimings(t, time.Minute, time.Hour)
	f := newAnnounceFixture(t)
	p := f.viaProxy(t)
	f.start(t, f.opts())
	peer := f.waitPending(t, 1)
	f.banner.waitFor(t, peer.Fingerprint)

	p.pause(true)
	p.cut() // no DISCONNECT: the broker keeps the session and queues for it
	waitDisconnect(t, f.broker, peer.Client)
	f.double.Rechallenge(t, peer.Client)
	p.pause(false)

	f.waitPending(t, 2)
	f.logs.waitFor(t, "a second challenge for one announce")
	if refused := f.double.Refused(); len(refused) == 0 {
		t.Fatal("the stale challenge never reached the agent; the test proves nothing")
	}
}

// TestAnnounceApprovalQueuedDuringOutage: an approval published while the
// link is down (the session kept) is delivered on reconnect.
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
	f.boot = agenttest.NewBootstrapServer(t, f.ca.ServerTLS(t), agenttest.BootstrapAnswer{
		MQTTURL: f.mqttURL, CACert: f.ca.PEM, CAFingerprint: f.ca.Fingerprint(),
	})
	return p
}
