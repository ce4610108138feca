package agent_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// waitUntil waits until cond, called with the server's records locked,
// holds.
func (s *jobServer) waitUntil(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(jobTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.notify:
		case <-time.After(50 * time.Millisecond): // the agent's state can change without a message
		case <-deadline.C:
			s.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// jobEvents returns the distinct events (by seq) of job, in seq order.
// Locked or not: it takes the lock itself.
func (s *jobServer) jobEvents(job string) []topics.JobEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventsLocked(job)
}

func (s *jobServer) eventsLocked(job string) []topics.JobEvent {
	var out []topics.JobEvent
	for _, ev := range s.events {
		if ev.Job == job {
			out = append(out, ev)
		}
	}
	slices.SortFunc(out, func(a, b topics.JobEvent) int { return int(a.Seq) - int(b.Seq) })
	return out
}

func (s *jobServer) terminalLocked(job string) *topics.JobEvent {
	for _, ev := range s.eventsLocked(job) {
		if ev.State.Terminal() {
			return &ev
		}
	}
	return nil
}

// waitTerminal waits for the job's terminal event and returns it.
func (s *jobServer) waitTerminal(job string) topics.JobEvent {
	s.t.Helper()
	var ev *topics.JobEvent
	s.waitUntil("job "+job+" to end", func() bool { ev = s.terminalLocked(job); return ev != nil })
	return *ev
}

// waitState waits until the job has reported state.
func (s *jobServer) waitState(job string, state topics.JobState) {
	s.t.Helper()
	s.waitUntil(fmt.Sprintf("job %s to be %s", job, state), func() bool {
		for _, ev := range s.eventsLocked(job) {
			if ev.State == state {
				return true
			}
		}
		return false
	})
}

// jobLog returns the job's stored log lines in order, checking that they
// are numbered 1..n without gaps and that no line arrived in two
// different batches (a resend of the same batch is fine: same seq).
func (s *jobServer) jobLog(job string) []topics.LogLine {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	byNum := map[uint64]topics.LogLine{}
	for _, l := range s.logs {
		if l.Job != job {
			continue
		}
		for i, line := range l.Lines {
			n := l.First + uint64(i)
			if _, dup := byNum[n]; dup {
				s.t.Fatalf("job %s: log line %d arrived in two different batches", job, n)
			}
			byNum[n] = line
		}
	}
	lines := make([]topics.LogLine, len(byNum))
	for n, line := range byNum {
		if n < 1 || n > uint64(len(byNum)) {
			s.t.Fatalf("job %s: log lines have a gap: line %d of %d lines", job, n, len(byNum))
		}
		lines[n-1] = line
	}
	return lines
}

// waitLogComplete waits until the job's log holds LogLines lines (as its
// terminal event says) and returns it.
func (s *jobServer) waitLogComplete(job string) []topics.LogLine {
	s.t.Helper()
	ev := s.waitTerminal(job)
	s.waitUntil("the whole log of job "+job, func() bool {
		n := uint64(0)
		for _, l := range s.logs {
			if l.Job == job {
				n = max(n, l.Last())
			}
		}
		return n >= ev.Result.LogLines
	})
	return s.jobLog(job)
}

// waitLogContains waits until a stored log line of job contains text.
func (s *jobServer) waitLogContains(job, text string) {
	s.t.Helper()
	s.waitUntil(fmt.Sprintf("a log line of job %s with %q", job, text), func() bool {
		for _, l := range s.logs {
			for _, line := range l.Lines {
				if l.Job == job && strings.Contains(line.Text, text) {
					return true
				}
			}
		}
		return false
	})
}

// reportsOf returns the snapshot reports (all parts) made for job,
// grouped by report id.
func (s *jobServer) reportsOf(job string) map[string][]topics.SnapshotReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]topics.SnapshotReport{}
	for _, r := range s.reports {
		if r.Job == job {
			out[r.Report] = append(out[r.Report], r)
		}
	}
	return out
}

// waitReport waits for a complete snapshot report of job and returns its
// snapshots in order.
func (s *jobServer) waitReport(job string) []topics.SnapshotInfo {
	s.t.Helper()
	var snaps []topics.SnapshotInfo
	s.waitUntil("the snapshot report of job "+job, func() bool {
		for _, r := range s.reports {
			if r.Job != job {
				continue
			}
			parts := map[int]topics.SnapshotReport{}
			for _, p := range s.reports {
				if p.Report == r.Report {
					parts[p.Part] = p
				}
			}
			if len(parts) == r.Parts {
				snaps = nil
				for i := 1; i <= r.Parts; i++ {
					snaps = append(snaps, parts[i].Snapshots...)
				}
				return true
			}
		}
		return false
	})
	return snaps
}

func (s *jobServer) lastHello() topics.Hello {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hellos) == 0 {
		return topics.Hello{}
	}
	return s.hellos[len(s.hellos)-1]
}

// timesReceived is how often the entry with seq arrived.
func (s *jobServer) timesReceived(seq uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[seq]
}

// send publishes a down message to the host, as the server does.
func (s *jobServer) send(topic string, p topics.Payload) {
	s.t.Helper()
	data, err := topics.Encode(p)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	if err := b.Publish(topic, data, false, 1); err != nil {
		s.t.Fatal(err)
	}
}

// sendConfig sends config version v with repo.
func (s *jobServer) sendConfig(v int64, repo *topics.RepositoryConfig) {
	s.t.Helper()
	s.send(topics.ConfigTopic(s.host), &topics.Config{Envelope: topics.NewEnvelope(topics.TypeConfig, s.host), Version: v, Repository: repo})
}

// runCommand builds a run command for a new job with spec, needing config
// version cfgVersion and expiring in an hour.
func (s *jobServer) runCommand(spec topics.JobSpec, cfgVersion int64) *topics.Command {
	return &topics.Command{
		Envelope:      topics.NewEnvelope(topics.TypeCmd, s.host),
		Action:        topics.CmdRun,
		Job:           topics.RandomID(topics.JobIDPrefix),
		Version:       1,
		ExpiresAt:     time.Now().Add(time.Hour),
		ConfigVersion: cfgVersion,
		Spec:          &spec,
	}
}

// run sends a run command for spec and returns its job id.
func (s *jobServer) run(spec topics.JobSpec, cfgVersion int64) string {
	s.t.Helper()
	c := s.runCommand(spec, cfgVersion)
	s.send(topics.CmdTopic(s.host), c)
	return c.Job
}

// cancel sends a cancel command for job.
func (s *jobServer) cancel(job string) {
	s.t.Helper()
	s.send(topics.CmdTopic(s.host), &topics.Command{Envelope: topics.NewEnvelope(topics.TypeCmd, s.host), Action: topics.CmdCancel, Job: job})
}
