package server

import (
	"sync/atomic"

	"github.com/restic-manager/restic-manager/topics"
)

// IngestStats counts what HandleMessage and HandleAnnounce did, for /metrics.
type IngestStats struct {
	Accepted atomic.Uint64
	Rejected atomic.Uint64 // malformed, forged or not for us: logged and dropped
}

// Stats returns the ingest counters.
func (s *Service) Stats() *IngestStats { return &s.ingest }

// HandleMessage takes one message an agent published (the broker's inline
// subscription delivers it with the publishing client's ID and connection
// serial). Anything malformed or forged is logged, counted and dropped; it
// never panics and never changes state.
func (s *Service) HandleMessage(topic string, payload []byte, clientID string, conn uint64) {
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
	switch t.Kind {
	case topics.KindHello:
		var m topics.Hello
		if err := topics.DecodeFrom(payload, t.Host, &m); err != nil {
			s.reject(topic, clientID, "bad hello", err)
			return
		}
		s.presence.Hello(t.Host, conn, &m)
	case topics.KindStatus:
		var m topics.Status
		if err := topics.DecodeFrom(payload, t.Host, &m); err != nil {
			s.reject(topic, clientID, "bad status", err)
			return
		}
		s.presence.Status(t.Host, conn, &m)
	default:
		s.reject(topic, clientID, "topic not handled by this server version", nil)
		return
	}
	s.ingest.Accepted.Add(1)
}

func (s *Service) reject(topic, clientID, why string, err error) {
	s.ingest.Rejected.Add(1)
	if len(topic) > 200 {
		topic = topic[:200]
	}
	s.log.Warn("mqtt message rejected", "why", why, "topic", topic, "client", clientID, "err", err)
}
