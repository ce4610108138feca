package agent

import (
	"crypto/tls"
	"io"
	"net/url"
	"sync/atomic"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/agent/tlssession"
)

// TestAgentResumesTLSSessionOnReconnect: the agent's connections to the
// broker share its session cache, so a reconnect resumes the TLS session
// the first connection's ticket names (the broker's side, tickets that
// survive its restart, is broker's TestTLSSessionResumesAcrossRestart); a
// pending client's dialer keeps no sessions.
func TestAgentResumesTLSSessionOnReconnect(t *testing.T) {
	t.Parallel()
	ca := agenttest.NewCA(t, "dial test CA")
	u := ticketServer(t, ca, nil)
	resumed := func(dial mqtt.OpenConnectionFunc) bool {
		t.Helper()
		c, err := dial(u, mqtt.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return c.(*tls.Conn).ConnectionState().DidResume
	}
	a := &Agent{ca: ca.Cert, tlsSessions: newTLSSessionCache()}
	if resumed(a.dialer(t.Context())) {
		t.Error("the first connection resumed a session")
	}
	if !resumed(a.dialer(t.Context())) {
		t.Error("the agent's reconnect did not resume its TLS session")
	}
	pending := brokerDialer(t.Context(), ca.Cert, nil)
	if resumed(pending) || resumed(pending) {
		t.Error("a dialer without a session cache resumed")
	}
}

// TestAgentKeepsTLSSessionThroughResetHandshakes: a connection reset during
// a handshake that offered the cached session (a full accept queue in a
// reconnect storm) does not cost the agent its session — Go's own cache
// drops it at the first failure — and the next connection still resumes;
// a session whose every handshake fails is dropped after
// tlssession.FailuresToDrop of them.
func TestAgentKeepsTLSSessionThroughResetHandshakes(t *testing.T) {
	t.Parallel()
	ca := agenttest.NewCA(t, "dial test CA")
	var reset atomic.Bool
	u := ticketServer(t, ca, &reset)
	a := &Agent{ca: ca.Cert, tlsSessions: newTLSSessionCache()}
	dial := func() (bool, error) {
		c, err := a.dialer(t.Context())(u, mqtt.ClientOptions{})
		if err != nil {
			return false, err
		}
		defer c.Close()
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return c.(*tls.Conn).ConnectionState().DidResume, nil
	}
	if _, err := dial(); err != nil {
		t.Fatal(err)
	}
	reset.Store(true)
	for i := range tlssession.FailuresToDrop - 1 {
		if _, err := dial(); err == nil {
			t.Fatalf("handshake %d succeeded against a closing listener", i+1)
		}
	}
	reset.Store(false)
	if resumed, err := dial(); err != nil || !resumed {
		t.Fatalf("after %d reset handshakes the session was not resumed (resumed %v, %v)", tlssession.FailuresToDrop-1, resumed, err)
	}
	reset.Store(true)
	for range tlssession.FailuresToDrop {
		if _, err := dial(); err == nil {
			t.Fatal("a handshake succeeded against a closing listener")
		}
	}
	reset.Store(false)
	if resumed, err := dial(); err != nil || resumed {
		t.Fatalf("a session that failed %d handshakes in a row was kept (resumed %v, %v)", tlssession.FailuresToDrop, resumed, err)
	}
}

// ticketServer is a TLS server that writes one byte on each connection (the
// session ticket goes out after the handshake, before that byte) and reads
// until the client hangs up; while reset is set it closes each connection
// before any handshake byte, so the client's handshake fails.
func ticketServer(t *testing.T, ca *agenttest.CA, reset *atomic.Bool) *url.URL {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.ServerTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if reset != nil && reset.Load() {
				_ = c.Close()
				continue
			}
			go func() {
				defer c.Close()
				if _, err := c.Write([]byte{0}); err == nil {
					_, _ = io.Copy(io.Discard, c)
				}
			}()
		}
	}()
	u, err := url.Parse("mqtts://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return u
}
