package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// pendingAuth is the server's rule for pending clients in small: any p_ ID
// gets in without a secret (the ACL confines it); hosts need their password.
// refusePending keeps pending clients out, to hold an agent offline.
// With registered set, a pending client also needs the password it
// registered there, as an external broker does (server: BootstrapPending).
type pendingAuth struct {
	*brokertest.StaticAuth
	refusePending atomic.Bool
	registered    atomic.Pointer[agenttest.BootstrapServer]
}

func (a *pendingAuth) Authenticate(username string, password []byte) (broker.Identity, error) {
	if topics.ValidPendingID(username) {
		if a.refusePending.Load() {
			return broker.Identity{}, fmt.Errorf("test: pending clients are refused now: %w", broker.ErrDenied)
		}
		if reg := a.registered.Load(); reg != nil {
			if want, ok := reg.Password(username); !ok || want != string(password) {
				return broker.Identity{}, fmt.Errorf("test: pending client not registered with this password: %w", broker.ErrDenied)
			}
		}
		return broker.Identity{Role: broker.RolePending, ID: username}, nil
	}
	return a.StaticAuth.Authenticate(username, password)
}

// announceFixture is the real broker with a TLS listener, the double of the
// server's announce logic on its inline subscription, a bootstrap endpoint
// pointing at the broker, and a place for the agent's state and config.
type announceFixture struct {
	ca       *agenttest.CA
	auth     *pendingAuth
	broker   *testBroker
	double   *agenttest.Announcer
	boot     *agenttest.BootstrapServer
	mqttURL  string
	stateDir string
	config   string
	banner   *logSink
	logs     *logSink
}

func newAnnounceFixture(t *testing.T) *announceFixture {
	t.Helper()
	ca := agenttest.NewCA(t, "restic-manager test CA")
	auth := &pendingAuth{StaticAuth: brokertest.NewStaticAuth()}
	b := startBroker(t, "127.0.0.1:0", auth, ca.ServerTLS(t))
	f := &announceFixture{
		ca: ca, auth: auth, broker: b,
		mqttURL:  "mqtts://" + b.TLSAddr().String(),
		stateDir: filepath.Join(t.TempDir(), "state"),
		config:   filepath.Join(t.TempDir(), "etc", "agent.yaml"),
		banner:   newLogSink(),
		logs:     newLogSink(),
	}
	f.double = agenttest.NewAnnouncer(func(topic string, payload []byte) error { return b.Publish(topic, payload, false, 1) })
	if err := b.Subscribe(topics.AllAnnounceReqFilter, func(m broker.Message) { f.double.Handle(m.Topic, m.Payload, m.Conn) }); err != nil {
		t.Fatal(err)
	}
	f.boot = agenttest.NewBootstrapServer(t, ca.ServerTLS(t), topics.BootstrapResponse{
		MQTTURL: f.mqttURL, CACert: ca.PEM, CAFingerprint: ca.Fingerprint(),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("announce log:\n%s\nstdout:\n%s", f.logs.String(), f.banner.String())
		}
	})
	return f
}

// opts are announce options for this fixture, pinned to its CA.
func (f *announceFixture) opts() agent.AnnounceOptions {
	return agent.AnnounceOptions{
		ServerURL: f.boot.URL, CAFingerprint: f.ca.Fingerprint(),
		ConfigPath: f.config, StateDir: f.stateDir,
		Logger:         slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Banner:         f.banner,
		BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	}
}

// announcing is an Announce call running in the background.
type announcing struct {
	cancel context.CancelFunc
	done   chan announceResult
}

type announceResult struct {
	cfg *agent.Config
	err error
}

// start runs Announce with opts until it returns or the test ends.
func (f *announceFixture) start(t *testing.T, opts agent.AnnounceOptions) *announcing {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &announcing{cancel: cancel, done: make(chan announceResult, 1)}
	go func() {
		cfg, err := agent.Announce(ctx, opts)
		a.done <- announceResult{cfg, err}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.done:
		case <-time.After(waitTimeout):
			t.Error("Announce did not return after cancel")
		}
	})
	return a
}

// result waits for Announce to return.
func (a *announcing) result(t *testing.T) (*agent.Config, error) {
	t.Helper()
	select {
	case r := <-a.done:
		a.done <- r // for the cleanup
		return r.cfg, r.err
	case <-time.After(waitTimeout):
		t.Fatal("Announce did not return")
		return nil, nil
	}
}

// waitPending waits until a client has proven its key, so the double has
// told it "pending", and returns what the double knows of it.
func (f *announceFixture) waitPending(t *testing.T, minProofs int) agenttest.AnnouncePeer {
	t.Helper()
	return f.double.WaitFor(t, fmt.Sprintf("a pending client with %d proof(s)", minProofs), func(p agenttest.AnnouncePeer) bool {
		return p.Proofs >= minProofs
	})
}

// newApprovedHost adds a host to the broker's authenticator and returns the
// credentials an approval would carry for it.
func (f *announceFixture) newApprovedHost(t *testing.T) topics.ApprovedCredentials {
	t.Helper()
	h := newHost(t, f.auth.StaticAuth)
	return topics.ApprovedCredentials{HostID: h.id, HostName: "till-3", MQTTPassword: h.password,
		CACert: f.ca.PEM, CAFingerprint: f.ca.Fingerprint()}
}
