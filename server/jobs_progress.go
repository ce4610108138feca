package server

import (
	"context"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Live progress (QoS 0, at most about once a second per running job) is not
// worth a write: the latest per job is kept in memory, announced on the bus
// (throttled) and dropped when the job ends. A server restart loses it until
// the next progress message, a second later.

// progressTracker holds the latest progress of running jobs.
type progressTracker struct {
	mu       sync.Mutex
	byJob    map[int64]*liveProgress
	ids      map[string]jobRef   // wire id -> job, for jobs seen running
	finished map[int64]time.Time // jobs that ended recently: late progress is ignored
}

// jobRef is what progress needs to know about a job.
type jobRef struct {
	id   int64
	host string
}

type liveProgress struct {
	p         topics.JobProgress
	at        time.Time // when it arrived
	announced time.Time // when it was last put on the bus
}

func newProgressTracker() *progressTracker {
	return &progressTracker{byJob: make(map[int64]*liveProgress), ids: make(map[string]jobRef),
		finished: make(map[int64]time.Time)}
}

// handleProgress keeps m as the latest progress of its job. It reports a
// reason when the message is refused.
func (s *Service) handleProgress(ctx context.Context, host string, m *topics.JobProgress) string {
	pt := s.progress
	pt.mu.Lock()
	ref, ok := pt.ids[m.Job]
	pt.mu.Unlock()
	if !ok {
		var row struct {
			ID     int64  `db:"id"`
			HostID string `db:"host_id"`
			Status string `db:"status"`
		}
		err := s.db.GetContext(ctx, &row, `SELECT id, host_id, status FROM jobs WHERE uid = ?`, m.Job)
		switch {
		case isNoRows(err):
			return "unknown job"
		case err != nil:
			s.log.Error("progress: load job", "job", m.Job, "err", err)
			return "store error"
		case row.HostID != host:
			return "another host's job"
		case topics.JobState(row.Status).Terminal():
			return "" // it ended; a late progress message is harmless
		}
		ref = jobRef{id: row.ID, host: row.HostID}
	}
	if ref.host != host {
		return "another host's job"
	}
	now := s.now()
	announce := false
	pt.mu.Lock()
	if _, done := pt.finished[ref.id]; !done {
		pt.ids[m.Job] = ref
		lp := pt.byJob[ref.id]
		if lp == nil {
			lp = &liveProgress{}
			pt.byJob[ref.id] = lp
		}
		lp.p, lp.at = *m, now
		if now.Sub(lp.announced) >= s.ingestOpts.ProgressEvery {
			lp.announced, announce = now, true
		}
	}
	pt.mu.Unlock()
	if announce {
		s.publishObserved(Event{Kind: EventJobProgress, HostID: host, JobID: ref.id})
	}
	return ""
}

// JobProgress is the latest live progress of a running job (in memory).
func (s *Service) JobProgress(id int64) (*topics.JobProgress, bool) {
	pt := s.progress
	pt.mu.Lock()
	defer pt.mu.Unlock()
	lp := pt.byJob[id]
	if lp == nil {
		return nil, false
	}
	p := lp.p
	return &p, true
}

// ended forgets a finished job's progress.
func (pt *progressTracker) ended(id int64, uid string, now time.Time) {
	pt.mu.Lock()
	delete(pt.byJob, id)
	delete(pt.ids, uid)
	pt.finished[id] = now
	pt.mu.Unlock()
}

// prune drops progress not refreshed for keep (the agent went away
// mid-job) and the memory of jobs that ended longer ago than keep.
func (pt *progressTracker) prune(now time.Time, keep time.Duration) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for id, lp := range pt.byJob {
		if now.Sub(lp.at) >= keep {
			delete(pt.byJob, id)
			uid := lp.p.Job
			delete(pt.ids, uid)
		}
	}
	for id, at := range pt.finished {
		if now.Sub(at) >= keep {
			delete(pt.finished, id)
		}
	}
}

// finishedJob is a job that reached a terminal state.
type finishedJob struct {
	id       int64
	uid      string
	hostID   string
	hostName string
	kind     string
	state    topics.JobState
	preview  bool // a retention preview (dry-run forget): no monitor event
}

// jobEnded drops the job's live progress and tells MQTT monitoring tools
// (rm/v1/monitor/events, QoS 0) that it finished; a retention preview is
// not work a monitor cares about, and a dry-run forget must not look like
// a forget there.
func (s *Service) jobEnded(fj finishedJob) {
	s.progress.ended(fj.id, fj.uid, s.now())
	pub := s.publisher()
	if pub == nil || fj.preview {
		return
	}
	evt := &topics.MonitorEvent{Envelope: topics.NewEnvelope(topics.TypeMonitorEvt, fj.hostID), Event: "job.finished",
		Name: fj.hostName, Job: fj.id, Kind: fj.kind, Status: string(fj.state)}
	if b, err := topics.Encode(evt); err == nil {
		_ = pub.Publish(topics.MonitorEventsTopic(), b, false, 0)
	}
	if fj.kind == string(topics.JobBackup) || fj.kind == string(topics.JobStats) {
		// The retained host state carries the last backup, its last
		// success and overdue, and the repository's size: have it
		// refreshed, off the caller's goroutine (the ingest writer's:
		// jobs_host_states.go).
		s.hostStates.add(fj.hostID)
	}
}
