package agent

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
	"github.com/robfig/cron/v3"

	_ "time/tzdata" // schedules name IANA zones; Windows has no zone database
)

// schedulerRecheck bounds how long the scheduler sleeps: timers count
// monotonic time, which stops while the machine sleeps, so it looks at
// the wall clock at least this often.
const schedulerRecheck = time.Minute

// scheduler runs the applied config's schedules (DESIGN §3 "Schedules run
// on the agent"), whether or not the server is reachable. Each due run
// becomes jobs the agent creates itself (startScheduledRun), queued in the
// same FIFO as the server's jobs, so one restic runs at a time.
//
// Slots: a schedule's cron, read in its time zone, gives its slots; a run
// is due at its slot plus a random delay of 0..JitterSeconds. Catch-up:
// the last slot run is persisted per schedule (schedules.json); at start
// and whenever a config is applied, a schedule with CatchUp whose latest
// slot up to now is after both its last run and the time this agent began
// running it (Since) runs once, at once (plus jitter), however many slots
// were missed. A new config replaces the plan at once: removed or paused
// schedules stop, a changed cron starts afresh; a run already due in the
// jitter window of an unchanged schedule keeps its time.
type scheduler struct {
	a    *Agent
	path string
	now  func() time.Time
	wake chan struct{}

	mu    sync.Mutex // guards state and plan (tests look at them)
	state scheduleState
	plan  map[string]*plannedRun
}

// plannedRun is a schedule's next run.
type plannedRun struct {
	sch     topics.Schedule
	cron    cron.Schedule
	slot    time.Time // the cron slot it is for
	due     time.Time // slot (or, for a catch-up, the time it was found) plus jitter
	catchUp bool
}

func newScheduler(a *Agent, now func() time.Time) *scheduler {
	path := filepath.Join(a.cfg.StateDir, scheduleFile)
	return &scheduler{a: a, path: path, now: now, wake: make(chan struct{}, 1),
		state: loadScheduleState(path, a.log), plan: map[string]*plannedRun{}}
}

// poke makes the scheduler look at the applied config again.
func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run plans and starts scheduled runs until ctx is done. It begins once
// the jobs of the previous run are recovered, so those keep their place
// at the head of the queue.
func (s *scheduler) run(ctx context.Context) {
	select {
	case <-s.a.recovered:
	case <-ctx.Done():
		return
	}
	planned := int64(-1)
	for ctx.Err() == nil {
		if v := s.a.desired.version(); v != planned {
			planned = v
			s.replan(s.a.desired.current(), s.now())
		}
		now := s.now()
		for _, r := range s.takeDue(now) {
			s.a.startScheduledRun(&r.sch, r.slot, r.catchUp)
		}
		wait := s.untilNext(now)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// replan makes the plan match cfg's schedules at now (see scheduler).
func (s *scheduler) replan(cfg *topics.Config, now time.Time) {
	var schedules []topics.Schedule
	if cfg != nil {
		schedules = cfg.Schedules
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.sync(schedules, now) {
		s.saveLocked()
	}
	old := s.plan
	s.plan = map[string]*plannedRun{}
	for _, sch := range schedules {
		if sch.Paused {
			continue
		}
		c, err := sch.Parse()
		if err != nil { // the config was validated: a zone this system lacks
			s.a.log.Error("schedule cannot run on this host", "schedule", sch.ID, "err", err)
			continue
		}
		if p := old[sch.ID]; p != nil && p.sch.Cron == sch.Cron && p.sch.TimeZone == sch.TimeZone && p.sch.JitterSeconds == sch.JitterSeconds {
			p.sch = sch
			s.plan[sch.ID] = p
			continue
		}
		rec := s.state.Schedules[sch.ID]
		p := &plannedRun{sch: sch, cron: c}
		after := rec.Since
		if rec.LastSlot.After(after) {
			after = rec.LastSlot
		}
		if last := latestSlot(c, after, now); sch.CatchUp && !last.IsZero() {
			p.slot, p.catchUp, p.due = last, true, now.Add(jitter(sch.JitterSeconds))
			s.a.log.Info("schedule missed a run while the agent was not running: catching up once", "schedule", sch.ID, "slot", last)
		} else {
			p.slot = nextSlot(c, rec.LastSlot, now)
			p.due = p.slot.Add(jitter(sch.JitterSeconds))
		}
		if p.slot.IsZero() {
			continue // the cron never fires (30 February)
		}
		s.plan[sch.ID] = p
	}
}

// takeDue returns the runs due at now, records their slots (durably,
// before any job is journaled: a crash in between loses one run rather
// than making a catch-up run it twice) and plans each schedule's next
// run. A run that comes due more than scheduledRunExpiry late (the machine
// slept, the clock jumped) is skipped with a log line, unless it is a
// catch-up.
func (s *scheduler) takeDue(now time.Time) []plannedRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []plannedRun
	for id, p := range s.plan {
		if p.due.After(now) {
			continue
		}
		if !p.catchUp && now.Sub(p.due) > scheduledRunExpiry {
			s.a.log.Warn("scheduled run skipped: it could not start within a day of its time", "schedule", id, "slot", p.slot, "now", now)
		} else {
			due = append(due, *p)
		}
		rec := s.state.Schedules[id]
		rec.LastSlot = p.slot
		s.state.Schedules[id] = rec
		p.slot = nextSlot(p.cron, p.slot, now)
		p.due, p.catchUp = p.slot.Add(jitter(p.sch.JitterSeconds)), false
		if p.slot.IsZero() {
			delete(s.plan, id)
		}
	}
	if len(due) > 0 {
		s.saveLocked()
	}
	return due
}

// untilNext is how long to sleep before the next due run (at most
// schedulerRecheck).
func (s *scheduler) untilNext(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := schedulerRecheck
	for _, p := range s.plan {
		wait = min(wait, p.due.Sub(now))
	}
	return max(wait, 0)
}

func (s *scheduler) saveLocked() {
	if err := s.state.save(s.path); err != nil {
		s.a.log.Error("cannot store the schedule state; a restart may catch up a run again or miss one", "err", err)
	}
}

// jitter is a random delay of 0..seconds.
func jitter(seconds int) time.Duration {
	if seconds <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(seconds)*int64(time.Second) + 1))
}
