package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Sentences a pending agent shows its user (AnnounceStatus.Message).
const (
	msgWaiting  = "Waiting for an admin to accept this machine in the dashboard's Pending hosts panel."
	msgRejected = "An admin rejected this machine; ask them why before you announce it again."
	msgExpired  = "Nobody accepted this machine in time; run the announce command again and ask an admin to accept it."
)

// HandleAnnounce takes one message a pending agent published on
// rm/v1/announce/{c}/req (the broker's inline subscription delivers it with
// the publishing client's ID and connection serial). It answers on
// .../resp. Anything malformed, forged, replayed or over a limit is logged,
// counted as rejected and dropped; it never panics, and only a verified
// proof changes the store.
//
// Decisions (DESIGN §4.2 leaves them open):
//   - Every hello counts against its source address's limit
//     (AnnounceOptions.HellosPerAddrPerMinute), valid or not. A hello over
//     the limit gets no answer: the agent should send its hello again when no
//     challenge arrives within half a minute or so, and will get through once
//     the minute is over. A site behind one NAT address gets its machines
//     through ten a minute.
//   - The queue's cap (AnnounceOptions.MaxPending) and each address's
//     share of it are applied when a verified proof would add a row, not
//     when the agent connects: a refused CONNECT would tell the agent only
//     "not authorized" and count against its address in the broker. A new
//     machine is never refused for room: longest-unseen rows make way
//     (fleet_pending_queue.go explains which). A machine that already has a row
//     always gets its answer.
//   - A refused proof (no challenge, another connection, a reused, late or
//     wrong nonce, a bad signature) gets no answer.
//
// It runs on the publishing client's goroutine. That is acceptable here, as
// announces are rare and rate-limited: one small transaction per hello (its
// challenge, kept in the store so that any replica can check the proof) and
// per proof, and only the announcing client waits for it.
func (s *Service) HandleAnnounce(topic string, payload []byte, clientID string, conn uint64) {
	t, err := topics.Parse(topic)
	if err != nil {
		s.reject(topic, clientID, "bad topic", err)
		return
	}
	if t.Kind != topics.KindAnnounceReq || t.Client != clientID {
		// The ACL makes this impossible for agents; refuse anyway, it costs nothing.
		s.reject(topic, clientID, "topic is not the publishing client's announce request", nil)
		return
	}
	var head struct {
		Type string `json:"type"`
	}
	if len(payload) > topics.MaxPayload || json.Unmarshal(payload, &head) != nil {
		s.reject(topic, clientID, "announce is not a JSON object", nil)
		return
	}
	switch head.Type {
	case topics.TypeAnnounceHello:
		s.announceHello(topic, clientID, conn, payload)
	case topics.TypeAnnounceProof:
		s.announceProof(topic, clientID, conn, payload)
	default:
		s.reject(topic, clientID, "unknown announce message type", nil)
	}
}

// announceHello answers a valid hello with a fresh challenge bound to conn.
func (s *Service) announceHello(topic, client string, conn uint64, payload []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := s.ann.sourceOf(client, conn)
	if addr == unknownAddr && s.provisioner() != nil {
		// On an external broker the address comes from the agent's
		// bootstrap request, which another replica may have answered.
		addr = s.pendingClientAddr(ctx, client)
	}
	bucket := addr
	if addr == unknownAddr {
		// No bootstrap recorded: limit the client itself rather than
		// every such hello together.
		bucket = unknownAddr + " " + client
	}
	if ok, err := s.allowAnnounce(ctx, rateHello, s.ann.hellos, bucket); err != nil {
		// The store's failure, not the agent's: it sends its hello again
		// when no challenge comes.
		s.log.Error("announce: count a hello", "client", client, "err", err)
		return
	} else if !ok {
		s.reject(topic, client, "too many announces from this address; the agent will try again", nil)
		return
	}
	var m topics.AnnounceHello
	if err := topics.Decode(payload, &m); err != nil {
		s.reject(topic, client, "bad announce hello", err)
		return
	}
	if m.Client != client {
		s.reject(topic, client, "hello names another client", nil)
		return
	}
	now := s.now()
	ch := &challenge{nonce: make([]byte, 32), conn: conn, expires: now.Add(ChallengeTTL), hello: &m, addr: addr}
	if _, err := rand.Read(ch.nonce); err != nil {
		s.log.Error("announce: crypto/rand failed", "err", err)
		return
	}
	offered, err := s.offerChallenge(ctx, client, ch, payload, now)
	switch {
	case err != nil:
		// The store's failure, not the agent's: it sends its hello again
		// when no challenge comes.
		s.log.Error("announce: store a challenge", "client", client, "err", err)
		return
	case !offered:
		s.reject(topic, client, "too many open announce challenges", nil)
		return
	}
	s.ingest.Accepted.Add(1)
	s.sendAnnounce(client, &topics.AnnounceChallenge{Envelope: topics.NewEnvelope(topics.TypeAnnounceChallenge, ""),
		Nonce: ch.nonce, ExpiresAt: ch.expires})
}

// announceProof verifies a proof against the client's open challenge (which
// any replica may have issued) and, if it holds, records the machine and
// tells it where it stands.
func (s *Service) announceProof(topic, client string, conn uint64, payload []byte) {
	var m topics.AnnounceProof
	if err := topics.Decode(payload, &m); err != nil {
		s.reject(topic, client, "bad announce proof", err)
		return
	}
	if m.Client != client {
		s.reject(topic, client, "proof names another client", nil)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, status, refused, err := s.recordAnnounce(ctx, client, conn, &m)
	switch {
	case err != nil:
		s.log.Error("announce: record pending host", "client", client, "err", err)
		return
	case refused != nil:
		s.reject(topic, client, refused.why, refused.err)
		return
	}
	s.ingest.Accepted.Add(1)
	s.log.Info("pending host announced", "client", client, "fingerprint", status.Fingerprint, "hostname", ch.hello.Hostname,
		"remote", ch.addr, "state", status.State)
	s.sendAnnounce(client, status)
}

// announceStatus builds a status for a pending agent.
func announceStatus(state, fingerprint, message string, sealed []byte) *topics.AnnounceStatus {
	return &topics.AnnounceStatus{Envelope: topics.NewEnvelope(topics.TypeAnnounceStatus, ""), State: state,
		Fingerprint: fingerprint, Message: message, Sealed: sealed}
}

// sendAnnounce publishes m to client's resp topic with QoS 1. Without a
// broker, or if the client is gone, the answer is lost; the agent announces
// again on its next connection and gets it then.
func (s *Service) sendAnnounce(client string, m topics.Payload) {
	b, err := topics.Encode(m)
	if err != nil {
		s.log.Error("announce: encode answer", "client", client, "err", err)
		return
	}
	pub := s.publisher()
	if pub == nil {
		s.log.Warn("announce: no broker to answer through", "client", client)
		return
	}
	if err := pub.Publish(topics.AnnounceRespTopic(client), b, false, 1); err != nil {
		s.log.Warn("announce: publish answer", "client", client, "err", err)
	}
}
