package servertest

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// PendingAgent is a machine announcing itself (docs/mqtt.md, "Announce"):
// its identity and seal keys and the pending client ID they give it.
type PendingAgent struct {
	Identity ed25519.PrivateKey
	Seal     *ecdh.PrivateKey
	Client   string
	Hostname string
}

// NewPendingAgent makes a machine called hostname with fresh keys.
func NewPendingAgent(tb testing.TB, hostname string) *PendingAgent {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	seal, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &PendingAgent{Identity: priv, Seal: seal, Client: topics.PendingID(pub), Hostname: hostname}
}

// Fingerprint is what the agent would print in its banner.
func (a *PendingAgent) Fingerprint() string {
	return topics.KeyFingerprint(a.Identity.Public().(ed25519.PublicKey))
}

// Hello is the agent's announce hello.
func (a *PendingAgent) Hello(tb testing.TB) []byte {
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
func (a *PendingAgent) Proof(tb testing.TB, nonce []byte) []byte {
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
func (a *PendingAgent) SendHello(tb testing.TB, s *server.Service, pub *Publisher, conn uint64, addr string) *topics.AnnounceChallenge {
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
func (a *PendingAgent) SendProof(tb testing.TB, s *server.Service, pub *Publisher, conn uint64, payload []byte) *topics.AnnounceStatus {
	tb.Helper()
	before := len(pub.On(topics.AnnounceRespTopic(a.Client)))
	s.HandleAnnounce(topics.AnnounceReqTopic(a.Client), payload, a.Client, conn)
	msgs := pub.On(topics.AnnounceRespTopic(a.Client))
	if len(msgs) == before {
		return nil
	}
	return decodeStatus(tb, msgs[len(msgs)-1].Payload)
}

// Announce runs the whole exchange (hello, challenge, proof) on connection
// conn from addr and returns the server's status, or nil when the server
// stayed silent.
func (a *PendingAgent) Announce(tb testing.TB, s *server.Service, pub *Publisher, conn uint64, addr string) *topics.AnnounceStatus {
	tb.Helper()
	ch := a.SendHello(tb, s, pub, conn, addr)
	if ch == nil {
		return nil
	}
	return a.SendProof(tb, s, pub, conn, a.Proof(tb, ch.Nonce))
}

// LastStatus is the newest status the server sent the agent, or nil.
func (a *PendingAgent) LastStatus(tb testing.TB, pub *Publisher) *topics.AnnounceStatus {
	tb.Helper()
	msgs := pub.On(topics.AnnounceRespTopic(a.Client))
	for i := len(msgs) - 1; i >= 0; i-- {
		var head struct{ Type string }
		if json.Unmarshal(msgs[i].Payload, &head) == nil && head.Type == topics.TypeAnnounceStatus {
			return decodeStatus(tb, msgs[i].Payload)
		}
	}
	return nil
}

// Open opens approved credentials with the agent's seal key.
func (a *PendingAgent) Open(tb testing.TB, st *topics.AnnounceStatus) topics.ApprovedCredentials {
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

func decodeStatus(tb testing.TB, payload []byte) *topics.AnnounceStatus {
	tb.Helper()
	var st topics.AnnounceStatus
	if err := topics.Decode(payload, &st); err != nil {
		tb.Fatalf("the server's answer is not a status: %v", err)
	}
	return &st
}
