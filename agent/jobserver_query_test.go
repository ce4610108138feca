package agent_test

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// What a test asks the server double: waits on what it received, and the
// down messages it sends.

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
