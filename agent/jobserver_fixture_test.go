package agent_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// jobServer plays the server's side of the job protocol for one host on
// the real broker, through an inline subscription as the real server does:
// it decodes what the agent publishes with topics.DecodeFrom, stores it
// idempotently by outbox seq, and acknowledges what it stored on down/ack.
// It can withhold acks (the server "lost" them) and ask for a resend. Its
// records outlive a broker restart (attach it to the new broker).
type jobServer struct {
	t    *testing.T
	host string
	acks chan []uint64

	mu       sync.Mutex
	b        *testBroker
	withhold bool
	unacked  []uint64
	received map[uint64]int // seq → how many times it arrived
	events   map[uint64]topics.JobEvent
	logs     map[uint64]topics.JobLog
	reports  map[uint64]topics.SnapshotReport
	progress []topics.JobProgress
	hellos   []topics.Hello
	statuses []topics.Status
	bad      []string
	notify   chan struct{}
}

func newJobServer(t *testing.T, host string, b *testBroker) *jobServer {
	s := &jobServer{t: t, host: host, acks: make(chan []uint64, 1000), received: map[uint64]int{},
		events: map[uint64]topics.JobEvent{}, logs: map[uint64]topics.JobLog{},
		reports: map[uint64]topics.SnapshotReport{}, notify: make(chan struct{}, 1)}
	s.attach(b)
	done := make(chan struct{})
	go s.ackLoop(done)
	t.Cleanup(func() {
		close(done)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.bad {
			t.Errorf("the server double received an invalid message: %s", b)
		}
	})
	return s
}

// attach subscribes to the host's up/# on b (a new broker after a restart).
func (s *jobServer) attach(b *testBroker) {
	s.mu.Lock()
	s.b = b
	s.mu.Unlock()
	if err := b.Subscribe(topics.HostUpFilter(s.host), s.receive); err != nil {
		s.t.Fatal(err)
	}
}

// ackLoop publishes acks off the broker's delivery goroutine, as the real
// server's writer does after its transaction.
func (s *jobServer) ackLoop(done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case seqs := <-s.acks:
			s.publishAck(seqs, false)
		}
	}
}

func (s *jobServer) publishAck(seqs []uint64, resend bool) {
	ack := &topics.Ack{Envelope: topics.NewEnvelope(topics.TypeAck, s.host), Seqs: seqs, Resend: resend}
	data, err := topics.Encode(ack)
	if err != nil {
		s.t.Errorf("encode ack: %v", err)
		return
	}
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	b.Publish(topics.AckTopic(s.host), data, false, 1) // a closed broker loses it: the agent resends
}

// setWithhold stops (true) or resumes acknowledging; resuming acknowledges
// everything stored meanwhile.
func (s *jobServer) setWithhold(on bool) {
	s.mu.Lock()
	s.withhold = on
	held := s.unacked
	s.unacked = nil
	s.mu.Unlock()
	if !on && len(held) > 0 {
		s.acks <- held
	}
}

// askResend publishes an ack with Resend set, as the server does when it
// sees a gap.
func (s *jobServer) askResend() { s.publishAck(nil, true) }

func (s *jobServer) receive(m broker.Message) {
	t, err := topics.Parse(m.Topic)
	if err != nil {
		s.fail("topic %q: %v", m.Topic, err)
		return
	}
	var seq uint64
	s.mu.Lock()
	switch t.Kind {
	case topics.KindHello:
		var h topics.Hello
		if s.decode(m, &h) {
			s.hellos = append(s.hellos, h)
		}
	case topics.KindStatus:
		var st topics.Status
		if s.decode(m, &st) {
			s.statuses = append(s.statuses, st)
		}
	case topics.KindJobProgress:
		var p topics.JobProgress
		if s.decode(m, &p) {
			s.progress = append(s.progress, p)
		}
	case topics.KindJobEvent:
		var ev topics.JobEvent
		if s.decode(m, &ev) && ev.Job == t.Job {
			seq = ev.Seq
			s.events[seq] = ev
		}
	case topics.KindJobLog:
		var l topics.JobLog
		if s.decode(m, &l) && l.Job == t.Job {
			seq = l.Seq
			s.logs[seq] = l
		}
	case topics.KindSnapshots:
		var r topics.SnapshotReport
		if s.decode(m, &r) {
			seq = r.Seq
			s.reports[seq] = r
			if len(m.Payload) > 200<<10 {
				s.bad = append(s.bad, fmt.Sprintf("snapshot report part of %d bytes", len(m.Payload)))
			}
		}
	}
	var ack []uint64
	if seq != 0 {
		s.received[seq]++
		if s.withhold {
			s.unacked = append(s.unacked, seq)
		} else {
			ack = []uint64{seq}
		}
	}
	s.mu.Unlock()
	if ack != nil {
		s.acks <- ack
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// decode runs with s.mu held.
func (s *jobServer) decode(m broker.Message, p topics.Payload) bool {
	if err := topics.DecodeFrom(m.Payload, s.host, p); err != nil {
		s.bad = append(s.bad, fmt.Sprintf("%s: %v", m.Topic, err))
		return false
	}
	return true
}

func (s *jobServer) fail(format string, args ...any) {
	s.mu.Lock()
	s.bad = append(s.bad, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}
