package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// announceWait bounds every wait in the announce tests.
const announceWait = 20 * time.Second

// pendingAuth lets any pending client in, as the server does, and hosts
// with their password.
type pendingAuth struct{ *brokertest.StaticAuth }

func (a pendingAuth) Authenticate(username string, password []byte) (broker.Identity, error) {
	if topics.ValidPendingID(username) {
		return broker.Identity{Role: broker.RolePending, ID: username}, nil
	}
	return a.StaticAuth.Authenticate(username, password)
}

// announceFixture is the real broker (TLS), the double of the server's
// announce logic on its inline subscription, and the bootstrap endpoint.
type announceFixture struct {
	ca     *agenttest.CA
	auth   pendingAuth
	broker *broker.Broker
	double *agenttest.Announcer
	boot   *agenttest.BootstrapServer
	config string
	state  string
}

func newAnnounceFixture(t *testing.T) *announceFixture {
	t.Helper()
	ca := agenttest.NewCA(t, "test CA")
	auth := pendingAuth{brokertest.NewStaticAuth()}
	b, err := broker.New(broker.Config{TLSAddr: "127.0.0.1:0", TLSConfig: ca.ServerTLS(t)}, auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f := &announceFixture{ca: ca, auth: auth, broker: b,
		config: filepath.Join(t.TempDir(), "agent.yaml"), state: filepath.Join(t.TempDir(), "state")}
	f.double = agenttest.NewAnnouncer(func(topic string, payload []byte) error { return b.Publish(topic, payload, false, 1) })
	if err := b.Subscribe(topics.AllAnnounceReqFilter, func(m broker.Message) { f.double.Handle(m.Topic, m.Payload, m.Conn) }); err != nil {
		t.Fatal(err)
	}
	f.boot = agenttest.NewBootstrapServer(t, ca.ServerTLS(t), topics.BootstrapResponse{
		MQTTURL: "mqtts://" + b.TLSAddr().String(), CACert: ca.PEM, CAFingerprint: ca.Fingerprint()})
	return f
}

// args is the announce command line for this fixture.
func (f *announceFixture) args() []string {
	return []string{"announce", "--server", f.boot.URL, "--ca-fingerprint", f.ca.Fingerprint(),
		"--config", f.config, "--state-dir", f.state}
}

// proven waits until the agent has proven its key to the double.
func (f *announceFixture) proven(t *testing.T) agenttest.AnnouncePeer {
	return f.double.WaitFor(t, "a proven announce", func(p agenttest.AnnouncePeer) bool { return p.Proofs >= 1 })
}

func TestAnnounceRejectedExitsNonZero(t *testing.T) {
	f := newAnnounceFixture(t)
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCLI(t, map[string]string{}, "", f.args()...)
		done <- result{code, stdout, stderr}
	}()
	peer := f.proven(t)
	f.double.Reject(t, peer.Client, "not one of our tills")
	var r result
	select {
	case r = <-done:
	case <-time.After(announceWait):
		t.Fatal("announce did not exit after the rejection")
	}
	want := "restic-manager-agent: announce: the server rejected this machine (fingerprint " + peer.Fingerprint + "): not one of our tills\n"
	if r.code != exitFail || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 with %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(f.config); !os.IsNotExist(err) {
		t.Fatal("config written after a rejection")
	}
}

// TestAnnounceEndToEnd runs the real program as a child: it announces,
// prints the fingerprint the server side computed, is accepted, and the
// same process then comes online as the host; SIGTERM stops it cleanly.
func TestAnnounceEndToEnd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is a unix service manager's stop signal")
	}
	f := newAnnounceFixture(t)
	h := topics.RandomID(topics.HostIDPrefix)
	if err := f.auth.Add(broker.Identity{Role: broker.RoleHost, ID: h}, "pw-announce-e2e"); err != nil {
		t.Fatal(err)
	}
	up := make(chan broker.Message, 100)
	if err := f.broker.Subscribe(topics.HostUpFilter(h), func(m broker.Message) { up <- m }); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), announceWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], f.args()...)
	cmd.Env = append(os.Environ(), reexecEnv+"=1")
	stdout, stderr := newWatchedBuffer(), newWatchedBuffer()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	}()

	peer := f.proven(t)
	stdout.waitFor(t, "Fingerprint:  "+peer.Fingerprint)
	f.double.Approve(t, peer.Client, topics.ApprovedCredentials{HostID: h, HostName: "till-3", MQTTPassword: "pw-announce-e2e"})
	select {
	case m := <-up:
		if m.Topic != topics.HelloTopic(h) || m.ClientID != h {
			t.Fatalf("first message from the host: %s by %s, want its hello", m.Topic, m.ClientID)
		}
	case <-ctx.Done():
		t.Fatal("the accepted agent never said hello as the host")
	}
	stdout.waitFor(t, "accepted as "+h)
	// The hello reaches the broker before its PUBACK reaches the agent,
	// which logs "connected" only then: a SIGTERM in between would end the
	// handshake early.
	stderr.waitFor(t, "msg=connected")
	cfg, err := agent.LoadConfig(f.config)
	if err != nil || cfg.HostID != h {
		t.Fatalf("config: %v", err)
	}
	if fi, _ := os.Stat(f.config); fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %04o", fi.Mode().Perm())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	for _, want := range []string{`msg="approved by an admin"`, `msg="config written"`, "msg=connected", `msg="agent stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), "pw-announce-e2e") {
		t.Error("the MQTT password was printed")
	}
	if n := strings.Count(stdout.String(), "This machine is waiting for approval."); n != 1 {
		t.Errorf("banner printed %d times", n)
	}
}

// watchedBuffer collects a child's output and lets the test wait for text.
type watchedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{notify: make(chan struct{}, 1)} }

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *watchedBuffer) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.NewTimer(announceWait)
	defer deadline.Stop()
	for !strings.Contains(w.String(), text) {
		select {
		case <-w.notify:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %q in the output", text)
		}
	}
}
