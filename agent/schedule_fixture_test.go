package agent_test

import (
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// shiftedClock is the scheduler's clock in tests: real time moved by an
// offset the test sets, so a cron slot comes in seconds (timers still run
// in real time).
type shiftedClock struct{ off atomic.Int64 }

func (c *shiftedClock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// set makes now() return t at this moment.
func (c *shiftedClock) set(t time.Time) { c.off.Store(int64(time.Until(t))) }

// sendFullConfig sends cfg (its envelope filled in) and waits until the
// agent reports its version applied.
func (e *jobEnv) sendFullConfig(cfg topics.Config) {
	e.t.Helper()
	cfg.Envelope = topics.NewEnvelope(topics.TypeConfig, e.h.id)
	if cfg.Repository == nil {
		cfg.Repository = e.repoConfig()
	}
	e.srv.send(topics.ConfigTopic(e.h.id), &cfg)
	e.srv.waitUntil("config version applied", func() bool {
		for _, st := range e.srv.statuses {
			if st.ConfigVersion == cfg.Version {
				return true
			}
		}
		return false
	})
}

var jobIDInLog = regexp.MustCompile(`job=(j_[A-Za-z0-9_-]+)`)

// waitScheduledJob waits for the agent's log line saying schedule sch made
// a job (the n-th such line, from 1) and returns the job's id.
func (r *runningAgent) waitScheduledJob(t *testing.T, sch string) string {
	t.Helper()
	line := r.logs.waitFor(t, `msg="scheduled job"`, "schedule="+sch)
	m := jobIDInLog.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no job id in %q", line)
	}
	return m[1]
}

// scheduledJobs lists the distinct jobs the server double saw events of
// that came from schedule sch.
func (s *jobServer) scheduledJobs(sch string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scheduledJobsLocked(sch)
}

func (s *jobServer) scheduledJobsLocked(sch string) []string {
	var ids []string
	for _, ev := range s.events {
		if ev.Origin != nil && ev.Origin.Schedule == sch && !slices.Contains(ids, ev.Job) {
			ids = append(ids, ev.Job)
		}
	}
	return ids
}

// checkOrigin checks that every event of job carries the schedule's
// origin for slot.
func checkOrigin(t *testing.T, evs []topics.JobEvent, sch string, slot time.Time, catchUp bool) {
	t.Helper()
	for _, ev := range evs {
		if o := ev.Origin; o == nil || o.Schedule != sch || !o.ScheduledFor.Equal(slot) || o.CatchUp != catchUp {
			t.Fatalf("event %s (version %d) has origin %+v; want schedule %s for %s (catch-up %v)", ev.State, ev.Version, ev.Origin, sch, slot, catchUp)
		}
	}
}
