package agenttest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Announcer is a test double of the server's side of announce-and-approve
// (DESIGN §4.2, topics/announce.go), written from the wire contract alone:
// it answers a hello with a challenge bound to the hello's connection,
// verifies the proof, and answers "pending", or the verdict a test gave with
// Approve or Reject, which it also sends again to a client that proves its
// key after a reconnect. It does not know the broker: the test wires Handle
// to an inline subscription on topics.AllAnnounceReqFilter and gives
// NewAnnouncer the broker's Publish.
type Announcer struct {
	publish func(topic string, payload []byte) error

	mu      sync.Mutex
	peers   map[string]*AnnouncePeer
	refused []string
	silence int // hellos still to leave unanswered
	changed chan struct{}
}

// AnnouncePeer is what the double knows about one pending client.
type AnnouncePeer struct {
	Client string
	// Hello is the latest hello; Conn the broker connection it came on.
	Hello topics.AnnounceHello
	Conn  uint64
	// Fingerprint is topics.KeyFingerprint of the hello's identity key
	// (topics' own test checks that form against openssl's output).
	Fingerprint string
	Hellos      int // hellos received
	Proofs      int // proofs that verified
	// Verdict is "", topics.AnnounceApproved or topics.AnnounceRejected.
	Verdict string

	nonce         []byte // the open challenge, replaced by every hello
	challengeConn uint64 // the connection it is bound to
	sealed        []byte
	message       string
}

// NewAnnouncer returns a double that answers through publish (QoS 1).
func NewAnnouncer(publish func(topic string, payload []byte) error) *Announcer {
	return &Announcer{publish: publish, peers: map[string]*AnnouncePeer{}, changed: make(chan struct{}, 1)}
}

// Handle takes one message published on rm/v1/announce/{c}/req by the
// connection with serial conn.
func (a *Announcer) Handle(topic string, payload []byte, conn uint64) {
	t, err := topics.Parse(topic)
	if err != nil || t.Kind != topics.KindAnnounceReq {
		a.refuse("not an announce request topic: %s", topic)
		return
	}
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(payload, &head)
	switch head.Type {
	case topics.TypeAnnounceHello:
		a.hello(t.Client, payload, conn)
	case topics.TypeAnnounceProof:
		a.proof(t.Client, payload, conn)
	default:
		a.refuse("unknown type %q", head.Type)
	}
}

func (a *Announcer) hello(client string, payload []byte, conn uint64) {
	var h topics.AnnounceHello
	if err := topics.Decode(payload, &h); err != nil || h.Client != client {
		a.refuse("bad hello from %s: %v", client, err)
		return
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	a.mu.Lock()
	p := a.peers[client]
	if p == nil {
		p = &AnnouncePeer{Client: client, Fingerprint: topics.KeyFingerprint(h.IdentityKey)}
		a.peers[client] = p
	}
	p.Hello, p.Conn = h, conn
	p.Hellos++
	if a.silence > 0 {
		// As the server does for a hello over its per-address limit.
		a.silence--
		a.mu.Unlock()
		a.notify()
		return
	}
	p.nonce, p.challengeConn = nonce, conn
	a.mu.Unlock()
	a.notify()
	a.sendChallenge(client, nonce)
}

func (a *Announcer) sendChallenge(client string, nonce []byte) {
	a.send(client, &topics.AnnounceChallenge{
		Envelope: topics.NewEnvelope(topics.TypeAnnounceChallenge, ""),
		Nonce:    nonce, ExpiresAt: time.Now().Add(time.Minute),
	})
}

// Silence leaves the next n hellos (of any client) unanswered, as the
// server does with hellos over its per-address limit.
func (a *Announcer) Silence(n int) {
	a.mu.Lock()
	a.silence = n
	a.mu.Unlock()
}

// Rechallenge sends client a new challenge bound to the connection of its
// latest hello, replacing the open one. Sent while that connection is gone,
// it waits in the client's persistent session and reaches the client's next
// connection as a stale challenge.
func (a *Announcer) Rechallenge(tb testing.TB, client string) {
	tb.Helper()
	a.peer(tb, client)
	nonce := make([]byte, 32)
	rand.Read(nonce)
	a.mu.Lock()
	p := a.peers[client]
	p.nonce, p.challengeConn = nonce, p.Conn
	a.mu.Unlock()
	a.sendChallenge(client, nonce)
}

func (a *Announcer) proof(client string, payload []byte, conn uint64) {
	var pr topics.AnnounceProof
	if err := topics.Decode(payload, &pr); err != nil || pr.Client != client {
		a.refuse("bad proof from %s: %v", client, err)
		return
	}
	a.mu.Lock()
	p := a.peers[client]
	switch {
	case p == nil:
		a.mu.Unlock()
		a.refuse("proof without hello from %s", client)
		return
	}
	// Like the server, one open challenge per client, used up by any
	// proof, right or wrong.
	nonce, challengeConn := p.nonce, p.challengeConn
	p.nonce = nil
	switch {
	case nonce == nil || challengeConn != conn || !bytes.Equal(nonce, pr.Nonce):
		a.mu.Unlock()
		a.refuse("proof from %s without its open challenge (another connection, a stale or used nonce)", client)
		return
	case !ed25519.Verify(p.Hello.IdentityKey, topics.ProofMessage(client, pr.Nonce, p.Hello.SealKey), pr.Signature):
		a.mu.Unlock()
		a.refuse("proof from %s does not verify", client)
		return
	}
	p.Proofs++
	st := a.statusLocked(p)
	a.mu.Unlock()
	a.notify()
	a.send(client, st)
}

// statusLocked is the status p gets now.
func (a *Announcer) statusLocked(p *AnnouncePeer) *topics.AnnounceStatus {
	st := &topics.AnnounceStatus{Envelope: topics.NewEnvelope(topics.TypeAnnounceStatus, ""), Fingerprint: p.Fingerprint}
	switch p.Verdict {
	case topics.AnnounceApproved:
		st.State, st.Sealed = topics.AnnounceApproved, p.sealed
	case topics.AnnounceRejected:
		st.State, st.Message = topics.AnnounceRejected, p.message
	default:
		st.State, st.Message = topics.AnnouncePending, "waiting for an admin"
	}
	return st
}

// WaitFor waits until some peer satisfies ok and returns a copy of it.
func (a *Announcer) WaitFor(tb testing.TB, what string, ok func(AnnouncePeer) bool) AnnouncePeer {
	tb.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		for _, p := range a.peers {
			if c := *p; ok(c) {
				a.mu.Unlock()
				return c
			}
		}
		a.mu.Unlock()
		select {
		case <-a.changed:
		case <-deadline.C:
			tb.Fatalf("timed out waiting for %s; refused: %q", what, a.Refused())
		}
	}
}

// Approve seals creds to client's seal key, sends them at once and again to
// every later proof of that client.
func (a *Announcer) Approve(tb testing.TB, client string, creds topics.ApprovedCredentials) {
	tb.Helper()
	plain, err := json.Marshal(creds)
	if err != nil {
		tb.Fatal(err)
	}
	sealed, err := topics.SealCredentials(a.peer(tb, client).Hello.SealKey, plain)
	if err != nil {
		tb.Fatal(err)
	}
	a.ApproveSealed(tb, client, sealed)
}

// ApproveSealed approves client with sealed as the credentials blob, e.g.
// one sealed to another key.
func (a *Announcer) ApproveSealed(tb testing.TB, client string, sealed []byte) {
	tb.Helper()
	a.decide(tb, client, topics.AnnounceApproved, sealed, "")
}

// Reject rejects client with message.
func (a *Announcer) Reject(tb testing.TB, client, message string) {
	tb.Helper()
	a.decide(tb, client, topics.AnnounceRejected, nil, message)
}

func (a *Announcer) decide(tb testing.TB, client, verdict string, sealed []byte, message string) {
	tb.Helper()
	a.peer(tb, client)
	a.mu.Lock()
	p := a.peers[client]
	p.Verdict, p.sealed, p.message = verdict, sealed, message
	st := a.statusLocked(p)
	a.mu.Unlock()
	a.notify()
	a.send(client, st)
}

func (a *Announcer) peer(tb testing.TB, client string) AnnouncePeer {
	tb.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.peers[client]
	if p == nil {
		tb.Fatalf("no announce from %s", client)
	}
	return *p
}

// Peers is how many pending clients have announced.
func (a *Announcer) Peers() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.peers)
}

// Refused lists why messages were refused, in order.
func (a *Announcer) Refused() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.refused...)
}

func (a *Announcer) refuse(format string, args ...any) {
	a.mu.Lock()
	a.refused = append(a.refused, fmt.Sprintf(format, args...))
	a.mu.Unlock()
	a.notify()
}

// send publishes p to client's resp topic. A failure is recorded, not
// fatal: the client may be gone, as on the real server.
func (a *Announcer) send(client string, p topics.Payload) {
	data, err := topics.Encode(p)
	if err == nil {
		err = a.publish(topics.AnnounceRespTopic(client), data)
	}
	if err != nil {
		a.refuse("send to %s: %v", client, err)
	}
}

func (a *Announcer) notify() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}
