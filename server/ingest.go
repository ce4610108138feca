package server

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/restic-manager/restic-manager/topics"
)

// IngestStats counts what HandleMessage and HandleAnnounce did, for /metrics.
type IngestStats struct {
	// Accepted: messages applied (or, for job events, log batches and
	// snapshot parts, stored by the writer, duplicates included).
	Accepted atomic.Uint64
	// Rejected: malformed, forged or not for us: logged, never applied
	// (RejectedBy says why).
	Rejected atomic.Uint64
	// Duplicates: job events, log batches and snapshot parts stored before:
	// acked again, nothing changed.
	Duplicates atomic.Uint64
	// Deferred: job events that arrived ahead of a missing earlier one,
	// and log batches of a job not known yet (its first event, which
	// creates a job the agent started from a schedule, may be behind),
	// left unacked so that the agent resends them.
	Deferred atomic.Uint64
	// QueueFull counts the times an inline handler had to wait for room in
	// the writer's queue; Dropped the messages it gave up on (the agent's
	// outbox resends them).
	QueueFull atomic.Uint64
	Dropped   atomic.Uint64
	// Failed: messages the writer could not store (a store error); not
	// acked, so the agent resends them.
	Failed atomic.Uint64
	// ResendsAsked: acks that asked an agent to resend its outbox (a gap
	// in a job's log).
	ResendsAsked atomic.Uint64

	mu       sync.Mutex
	rejectBy map[string]uint64
}

// RejectedBy returns the rejected messages by reason (a short phrase such
// as "unknown job" or "stale version").
func (st *IngestStats) RejectedBy() map[string]uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return maps.Clone(st.rejectBy)
}

func (st *IngestStats) rejected(why string) {
	st.Rejected.Add(1)
	st.mu.Lock()
	if st.rejectBy == nil {
		st.rejectBy = make(map[string]uint64)
	}
	st.rejectBy[why]++
	st.mu.Unlock()
}

// Stats returns the ingest counters.
func (s *Service) Stats() *IngestStats { return &s.ingest }

// HandleMessage takes one message an agent published (the broker's inline
// subscription delivers it with the publishing client's ID and connection
// serial). Anything malformed or forged is logged, counted and dropped; it
// never panics and never changes state. Job events, log batches and
// snapshot reports are queued for the writer (ingest_queue.go), which
// acknowledges them once stored; when the queue is full this call waits a
// little (backpressure on that agent's connection).
//
// conn 0 means the broker gives no connection serial and reports no
// connects (an external broker, #15): the agent's own connection count
// (conn_gen of its hello, status and Will) stands in for the serial, and a
// hello is the connect. Replicas sharing an external broker split each
// message's handling instead: HandleShared and Observe (ingest_replicas.go).
func (s *Service) HandleMessage(topic string, payload []byte, clientID string, conn uint64) {
	s.handleMessage(topic, payload, clientID, conn, handleAll)
}

// handleMessage does the parts of HandleMessage that parts names.
func (s *Service) handleMessage(topic string, payload []byte, clientID string, conn uint64, parts handling) {
	t, err := topics.Parse(topic)
	if err != nil {
		s.reject(topic, clientID, "bad topic", err)
		return
	}
	if t.Host == "" || t.Host != clientID {
		// The ACL makes this impossible for agents; refuse anyway, it costs nothing.
		s.reject(topic, clientID, "topic host is not the publishing client", nil)
		return
	}
	if !s.routedHere(t.Kind, topic, clientID, parts) {
		return
	}
	ctx := context.Background()
	switch t.Kind {
	case topics.KindHello:
		if m, ok := decodeAgentMessage[topics.Hello](s, t, topic, clientID, payload); ok {
			if parts&handleEach != 0 {
				if conn == 0 {
					conn = m.ConnGen
					s.presence.Connected(t.Host, conn, "")
				}
				s.presence.Hello(t.Host, conn, m)
			}
			if parts&handleOnce != 0 {
				s.hellos.add(t.Host, m) // the resends, off this connection's goroutine (ingest_hello.go)
			}
			s.ingest.Accepted.Add(1)
		}
	case topics.KindStatus:
		if m, ok := decodeAgentMessage[topics.Status](s, t, topic, clientID, payload); ok {
			if conn == 0 {
				conn = m.ConnGen
			}
			if parts&handleEach != 0 {
				s.presence.Status(t.Host, conn, m)
			}
			if m.ConfigVersion > 0 && parts&handleOnce != 0 {
				s.recordApplied(ctx, t.Host, m.ConfigVersion)
			}
			s.ingest.Accepted.Add(1)
		}
	case topics.KindJobEvent:
		if m, ok := decodeAgentMessage[topics.JobEvent](s, t, topic, clientID, payload); ok {
			s.queueForWriter(topic, clientID, t.Job, m.Job, ingestItem{host: t.Host, event: m})
		}
	case topics.KindJobLog:
		if m, ok := decodeAgentMessage[topics.JobLog](s, t, topic, clientID, payload); ok {
			s.queueForWriter(topic, clientID, t.Job, m.Job, ingestItem{host: t.Host, log: m})
		}
	case topics.KindSnapshots:
		if m, ok := decodeAgentMessage[topics.SnapshotReport](s, t, topic, clientID, payload); ok {
			s.queueForWriter(topic, clientID, "", "", ingestItem{host: t.Host, snap: m})
		}
	case topics.KindUpgrade:
		if m, ok := decodeAgentMessage[topics.UpgradeReport](s, t, topic, clientID, payload); ok {
			s.handleUpgradeReport(ctx, t.Host, m)
			s.ingest.Accepted.Add(1)
		}
	case topics.KindReply:
		if m, ok := decodeAgentMessage[topics.Reply](s, t, topic, clientID, payload); ok {
			s.handleReply(topic, t.Host, m, parts) // #14, browse_ask.go
		}
	case topics.KindJobProgress:
		m, ok := decodeAgentMessage[topics.JobProgress](s, t, topic, clientID, payload)
		switch {
		case !ok:
		case m.Job != t.Job:
			s.reject(topic, clientID, "job in the message is not the topic's", nil)
		default:
			if why := s.handleProgress(ctx, t.Host, m); why != "" {
				s.reject(topic, clientID, why, nil)
				return
			}
			s.ingest.Accepted.Add(1)
		}
	default:
		s.reject(topic, clientID, "topic not handled by this server version", nil)
	}
}

// decodeAgentMessage decodes and validates payload as a T from the topic's
// host (topics.DecodeFrom), or counts and logs it as rejected ("bad <kind>").
func decodeAgentMessage[T any, P interface {
	*T
	topics.Payload
}](s *Service, t topics.Topic, topic, clientID string, payload []byte) (P, bool) {
	m := P(new(T))
	bounded := s.decodes.enter(len(payload)) // ingest_bound.go
	err := topics.DecodeFrom(payload, t.Host, m)
	if bounded {
		s.decodes.leave()
	}
	if err != nil {
		s.reject(topic, clientID, "bad "+t.Kind.String(), err)
		return nil, false
	}
	return m, true
}

// queueForWriter hands a decoded outbox message to the writer. One whose
// body names another job than its topic is refused but acknowledged: it
// carries a sequence number, and it can never become acceptable.
func (s *Service) queueForWriter(topic, clientID, topicJob, bodyJob string, it ingestItem) {
	if topicJob != bodyJob {
		s.reject(topic, clientID, "job in the message is not the topic's", nil)
		s.publishAck(s.publisher(), it.host, []uint64{it.seq()}, false)
		return
	}
	s.enqueue(it)
}

func (s *Service) reject(topic, clientID, why string, err error) {
	s.ingest.rejected(why)
	if len(topic) > 200 {
		topic = topic[:200]
	}
	s.log.Warn("mqtt message rejected", "why", why, "topic", topic, "client", clientID, "err", err)
}
