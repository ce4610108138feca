package servertest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// HostAgent plays an enrolled host's agent: what it sends goes through
// HandleMessage as the broker would deliver it, on connection Conn, with
// outbox sequence numbers counting from 1. Job events, log batches and
// snapshot reports are stored by the writer (RunInBackground); Sync waits
// for them.
type HostAgent struct {
	S    *server.Service
	Host string
	Conn uint64

	mu  sync.Mutex
	seq uint64
}

// NewHostAgent plays host's agent on connection 1.
func NewHostAgent(s *server.Service, host string) *HostAgent {
	return &HostAgent{S: s, Host: host, Conn: 1}
}

// Seq is the last outbox sequence number taken (0 before the first).
func (a *HostAgent) Seq() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

// NextSeq takes the next outbox sequence number.
func (a *HostAgent) NextSeq() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	return a.seq
}

// Connect opens the agent's connection and says hello with the config
// version it has applied, and waits for the hello's resends.
func (a *HostAgent) Connect(tb testing.TB, configVersion int64) {
	tb.Helper()
	a.S.Presence().Connected(a.Host, a.Conn, "192.0.2.1:50000")
	a.Send(tb, topics.HelloTopic(a.Host), &topics.Hello{Envelope: topics.NewEnvelope(topics.TypeHello, a.Host),
		AgentVersion: "test", OS: "linux", Arch: "amd64", Hostname: "test", BootID: "boot", ConnGen: a.Conn,
		ConfigVersion: configVersion})
	if err := a.S.SyncHellos(tb.Context()); err != nil {
		tb.Fatal(err)
	}
}

// Send marshals m (valid or not) and hands it to HandleMessage on topic.
func (a *HostAgent) Send(tb testing.TB, topic string, m any) {
	tb.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	a.S.HandleMessage(topic, b, a.Host, a.Conn)
}

// Event reports a job state transition and returns its outbox sequence.
func (a *HostAgent) Event(tb testing.TB, job string, version int64, state topics.JobState, result *topics.JobResult) uint64 {
	tb.Helper()
	return a.ScheduledEvent(tb, nil, job, version, state, result)
}

// ScheduledEvent reports a state transition of a job the agent started by
// itself from a schedule (origin; nil for a job the server queued) and
// returns its outbox sequence.
func (a *HostAgent) ScheduledEvent(tb testing.TB, origin *topics.JobOrigin, job string, version int64, state topics.JobState,
	result *topics.JobResult) uint64 {
	tb.Helper()
	seq := a.NextSeq()
	a.Send(tb, topics.JobEventTopic(a.Host, job), &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, a.Host),
		Seq: seq, Job: job, Version: version, State: state, At: time.Now().UTC(), Result: result, Origin: origin})
	return seq
}

// RunJobAt reports a queued job delivered, running and then in state
// (versions 2 to 4, restic's exit code: 0, 3 for a warning, else 1),
// every event at at: the agent says when a job finished, so a test's clock
// decides its age. It waits until they are stored.
func (a *HostAgent) RunJobAt(tb testing.TB, job string, state topics.JobState, at time.Time) {
	tb.Helper()
	for v, st := range []topics.JobState{topics.JobDelivered, topics.JobRunning, state} {
		e := &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, a.Host), Seq: a.NextSeq(), Job: job,
			Version: int64(v + 2), State: st, At: at}
		if st == state {
			code := map[topics.JobState]int{topics.JobSucceeded: 0, topics.JobWarning: 3}[st]
			if code == 0 && st != topics.JobSucceeded {
				code = 1
			}
			e.Result = &topics.JobResult{ExitCode: &code}
		}
		a.Send(tb, topics.JobEventTopic(a.Host, job), e)
	}
	a.Sync(tb)
}

// Log sends lines numbered from first as one batch and returns its
// outbox sequence.
func (a *HostAgent) Log(tb testing.TB, job string, first uint64, lines ...string) uint64 {
	tb.Helper()
	seq := a.NextSeq()
	a.ResendLog(tb, seq, job, first, lines...)
	return seq
}

// ResendLog sends a log batch under an outbox sequence taken before, as
// the agent resends an entry not yet acknowledged.
func (a *HostAgent) ResendLog(tb testing.TB, seq uint64, job string, first uint64, lines ...string) {
	tb.Helper()
	m := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, a.Host), Seq: seq, Job: job, First: first}
	for _, l := range lines {
		m.Lines = append(m.Lines, topics.LogLine{T: time.Now().UTC(), Stream: topics.StreamStdout, Text: l})
	}
	a.Send(tb, topics.JobLogTopic(a.Host, job), m)
}

// Snapshots sends one part of a snapshot report and returns its outbox
// sequence.
func (a *HostAgent) Snapshots(tb testing.TB, report string, part, parts int, takenAt time.Time, snaps ...topics.SnapshotInfo) uint64 {
	tb.Helper()
	seq := a.NextSeq()
	a.Send(tb, topics.SnapshotsTopic(a.Host), &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, a.Host),
		Seq: seq, Report: report, Part: part, Parts: parts, TakenAt: takenAt, Snapshots: snaps})
	return seq
}

// Progress sends live progress of a running job.
func (a *HostAgent) Progress(tb testing.TB, job string, percent float64) {
	tb.Helper()
	a.Send(tb, topics.JobProgressTopic(a.Host, job), &topics.JobProgress{Envelope: topics.NewEnvelope(topics.TypeJobProgress, a.Host),
		Job: job, Percent: percent, ETASeconds: -1})
}

// Sync waits until everything sent so far is stored and acked.
func (a *HostAgent) Sync(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.S.SyncIngest(ctx); err != nil {
		tb.Fatalf("ingest did not catch up (is the service running? RunInBackground): %v", err)
	}
}

// Acks decodes the acks pub recorded for the agent's host, oldest first.
func (a *HostAgent) Acks(tb testing.TB, pub *Publisher) []topics.Ack {
	tb.Helper()
	return decodeRecorded[topics.Ack](tb, pub, topics.AckTopic(a.Host), a.Host)
}

// Commands decodes the commands pub recorded for the agent's host, oldest
// first.
func (a *HostAgent) Commands(tb testing.TB, pub *Publisher) []topics.Command {
	tb.Helper()
	return decodeRecorded[topics.Command](tb, pub, topics.CmdTopic(a.Host), a.Host)
}

// Configs decodes the configs pub recorded for the agent's host, oldest
// first. A config published retained fails the test: it holds secrets.
func (a *HostAgent) Configs(tb testing.TB, pub *Publisher) []topics.Config {
	tb.Helper()
	for _, m := range pub.On(topics.ConfigTopic(a.Host)) {
		if m.Retain {
			tb.Fatal("a config (it holds secrets) was published retained")
		}
	}
	return decodeRecorded[topics.Config](tb, pub, topics.ConfigTopic(a.Host), a.Host)
}

// decodeRecorded decodes every message pub recorded on topic as a T sent
// to host, failing the test on an invalid one.
func decodeRecorded[T any, P interface {
	*T
	topics.Payload
}](tb testing.TB, pub *Publisher, topic, host string) []T {
	tb.Helper()
	var out []T
	for _, m := range pub.On(topic) {
		v := P(new(T))
		if err := topics.DecodeFrom(m.Payload, host, v); err != nil {
			tb.Fatalf("the server published an invalid message on %s: %v", topic, err)
		}
		out = append(out, *v)
	}
	return out
}

// AckedSeqs is every sequence the acks name, and whether any asked for a
// resend.
func AckedSeqs(acks []topics.Ack) (seqs map[uint64]bool, resend bool) {
	seqs = make(map[uint64]bool)
	for _, a := range acks {
		for _, s := range a.Seqs {
			seqs[s] = true
		}
		resend = resend || a.Resend
	}
	return seqs, resend
}

// EnrollHost enrolls a linux/amd64 host called name with a fresh token, as
// the CLI actor, and returns its ID.
func EnrollHost(tb testing.TB, s *server.Service, name string) string {
	tb.Helper()
	tok, _, err := s.CreateEnrollmentToken(context.Background(), server.CLIActor(), name, 0)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := s.Enroll(context.Background(), server.EnrollRequest{Token: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		tb.Fatal(err)
	}
	return res.HostID
}
