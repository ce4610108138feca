package server

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// This file holds fixtures for other packages' tests (restic's testing.go
// pattern). Nothing here is used by the running server.

// TestClock is a settable clock for tests.
type TestClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewTestClock starts a clock at t.
func NewTestClock(t time.Time) *TestClock { return &TestClock{t: t} }

// Now returns the clock's time.
func (c *TestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *TestClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// MustOpenService opens a Service on a real SQLite file in a temporary
// directory, closed when the test ends. opts may be zero.
func MustOpenService(tb testing.TB, opts Options) *Service {
	tb.Helper()
	dir := tb.TempDir()
	db, err := OpenDB(filepath.Join(dir, "restic-manager.db"))
	if err != nil {
		tb.Fatal(err)
	}
	box, err := LoadOrCreateMasterKey(dir)
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	s := NewService(db, box, logger, opts)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// MustCreateUser adds a user with a fixed password ("correct horse battery")
// and returns it.
func MustCreateUser(tb testing.TB, s *Service, name string, role Role) *User {
	tb.Helper()
	u, err := s.CreateUser(tb.Context(), CLIActor(), name, role, TestPassword)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestPassword is the password MustCreateUser gives its users.
const TestPassword = "correct horse battery"

// ActorFor builds the actor for u as the web layer would.
func ActorFor(u *User, via string) Actor {
	return Actor{UserID: u.ID, Name: u.Name, Role: u.Role, RemoteAddr: "127.0.0.1", Via: via}
}

// TestPublisher stands in for the broker: it records what the domain
// publishes, in order.
type TestPublisher struct {
	// Hook, when set, sees every message as it is published, before
	// Publish returns (e.g. to check that what an ack names is stored).
	Hook func(PublishedMessage)

	mu   sync.Mutex
	msgs []PublishedMessage
}

// PublishedMessage is one message a TestPublisher recorded.
type PublishedMessage struct {
	Topic   string
	Payload []byte
	Retain  bool
	QoS     byte
}

// Publish records a message.
func (p *TestPublisher) Publish(topic string, payload []byte, retain bool, qos byte) error {
	m := PublishedMessage{Topic: topic, Payload: append([]byte(nil), payload...), Retain: retain, QoS: qos}
	if p.Hook != nil {
		p.Hook(m)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return nil
}

// On returns the messages published to topic, oldest first.
func (p *TestPublisher) On(topic string) []PublishedMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []PublishedMessage
	for _, m := range p.msgs {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// TestAgent is a machine announcing itself (DESIGN §4.2) in tests: its
// identity and seal keys and the pending client ID they give it.
type TestAgent struct {
	Identity ed25519.PrivateKey
	Seal     *ecdh.PrivateKey
	Client   string
	Hostname string
}

// NewTestAgent makes a machine called hostname with fresh keys.
func NewTestAgent(tb testing.TB, hostname string) *TestAgent {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	seal, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &TestAgent{Identity: priv, Seal: seal, Client: topics.PendingID(pub), Hostname: hostname}
}

// Fingerprint is what the agent would print in its banner.
func (a *TestAgent) Fingerprint() string {
	return topics.KeyFingerprint(a.Identity.Public().(ed25519.PublicKey))
}

// Hello is the agent's announce hello.
func (a *TestAgent) Hello(tb testing.TB) []byte {
	tb.Helper()
	m := &topics.AnnounceHello{Envelope: topics.NewEnvelope(topics.TypeAnnounceHello, ""), Client: a.Client, Hostname: a.Hostname,
		OS: "linux", Arch: "arm64", AgentVersion: "1.2.3", ResticVersion: "0.18.1",
		IdentityKey: a.Identity.Public().(ed25519.PublicKey), SealKey: a.Seal.PublicKey().Bytes()}
	m.SealKeySig = ed25519.Sign(a.Identity, topics.SealKeyMessage(m.SealKey))
	b, err := topics.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Proof answers a challenge's nonce.
func (a *TestAgent) Proof(tb testing.TB, nonce []byte) []byte {
	tb.Helper()
	sig := ed25519.Sign(a.Identity, topics.ProofMessage(a.Client, nonce, a.Seal.PublicKey().Bytes()))
	b, err := topics.Encode(&topics.AnnounceProof{Envelope: topics.NewEnvelope(topics.TypeAnnounceProof, ""), Client: a.Client,
		Nonce: nonce, Signature: sig})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// SendHello connects the agent as connection conn from addr ("ip:port"),
// sends its hello and returns the challenge, or nil when none came.
func (a *TestAgent) SendHello(tb testing.TB, s *Service, pub *TestPublisher, conn uint64, addr string) *topics.AnnounceChallenge {
	tb.Helper()
	s.PendingConnected(a.Client, conn, addr)
	before := len(pub.On(topics.AnnounceRespTopic(a.Client)))
	s.HandleAnnounce(topics.AnnounceReqTopic(a.Client), a.Hello(tb), a.Client, conn)
	msgs := pub.On(topics.AnnounceRespTopic(a.Client))
	if len(msgs) == before {
		return nil
	}
	var ch topics.AnnounceChallenge
	if err := topics.Decode(msgs[len(msgs)-1].Payload, &ch); err != nil {
		tb.Fatalf("the answer to a hello is not a challenge: %v", err)
	}
	return &ch
}

// SendProof sends payload as a proof on connection conn and returns the
// status the server answered, or nil when none came.
func (a *TestAgent) SendProof(tb testing.TB, s *Service, pub *TestPublisher, conn uint64, payload []byte) *topics.AnnounceStatus {
	tb.Helper()
	before := len(pub.On(topics.AnnounceRespTopic(a.Client)))
	s.HandleAnnounce(topics.AnnounceReqTopic(a.Client), payload, a.Client, conn)
	msgs := pub.On(topics.AnnounceRespTopic(a.Client))
	if len(msgs) == before {
		return nil
	}
	return decodeTestStatus(tb, msgs[len(msgs)-1].Payload)
}

// Announce runs the whole exchange (hello, challenge, proof) on connection
// conn from addr and returns the server's status, or nil when the server
// stayed silent.
func (a *TestAgent) Announce(tb testing.TB, s *Service, pub *TestPublisher, conn uint64, addr string) *topics.AnnounceStatus {
	tb.Helper()
	ch := a.SendHello(tb, s, pub, conn, addr)
	if ch == nil {
		return nil
	}
	return a.SendProof(tb, s, pub, conn, a.Proof(tb, ch.Nonce))
}

// LastStatus is the newest status the server sent the agent, or nil.
func (a *TestAgent) LastStatus(tb testing.TB, pub *TestPublisher) *topics.AnnounceStatus {
	tb.Helper()
	msgs := pub.On(topics.AnnounceRespTopic(a.Client))
	for i := len(msgs) - 1; i >= 0; i-- {
		var head struct{ Type string }
		if json.Unmarshal(msgs[i].Payload, &head) == nil && head.Type == topics.TypeAnnounceStatus {
			return decodeTestStatus(tb, msgs[i].Payload)
		}
	}
	return nil
}

// Open opens approved credentials with the agent's seal key.
func (a *TestAgent) Open(tb testing.TB, st *topics.AnnounceStatus) topics.ApprovedCredentials {
	tb.Helper()
	plain, err := topics.OpenCredentials(a.Seal, st.Sealed)
	if err != nil {
		tb.Fatal(err)
	}
	var c topics.ApprovedCredentials
	if err := json.Unmarshal(plain, &c); err != nil {
		tb.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		tb.Fatal(err)
	}
	return c
}

func decodeTestStatus(tb testing.TB, payload []byte) *topics.AnnounceStatus {
	tb.Helper()
	var st topics.AnnounceStatus
	if err := topics.Decode(payload, &st); err != nil {
		tb.Fatalf("the server's answer is not a status: %v", err)
	}
	return &st
}
