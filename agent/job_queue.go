package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// jobQueue holds the jobs waiting for their turn, first in first out, and
// the one running. One restic operation runs at a time on this host: there
// is one repository per host, and restic operations on one repository
// mostly exclude each other (prune, check and forget take an exclusive
// lock) or compete for the same disk and uplink.
//
// A job whose command needs a config version newer than the applied one
// waits at the head of the queue, and so do the jobs behind it: order is
// kept (an init before the backup that needs its repository). It leaves
// when the config arrives, when it expires, or when it is canceled.
type jobQueue struct {
	a *Agent

	mu      sync.Mutex
	waiting []*job
	running *job
	listing bool // the worker lists the snapshots after a job
	paused  bool // an upgrade holds the queue: no job starts (upgrade_queue.go)
	wakeCh  chan struct{}

	// listFor is the job whose change to the snapshots the server has not
	// been sent yet ("" none); the worker's alone.
	listFor string
}

func (q *jobQueue) setListing(on bool) {
	q.mu.Lock()
	q.listing = on
	q.mu.Unlock()
}

func newJobQueue(a *Agent) *jobQueue { return &jobQueue{a: a, wakeCh: make(chan struct{}, 1)} }

// wake makes the worker look at the queue again (a job or a config came).
func (q *jobQueue) wake() {
	select {
	case q.wakeCh <- struct{}{}:
	default:
	}
}

// enqueue adds j at the end of the queue. If it has to wait for another
// job, its log says so at once (before the worker can take it).
//
// The flush happens with the lock held: once the job is in the queue the
// worker may take it and start writing its state, which the flush reads
// (scheduled jobs are enqueued by the scheduler, alongside the
// dispatcher, so the window is real).
func (q *jobQueue) enqueue(j *job) {
	q.mu.Lock()
	if why := q.busyLocked(); why != "" {
		j.log.agentf("waiting for its turn: %s; this host runs one restic operation at a time", why)
		j.log.flush()
	}
	q.waiting = append(q.waiting, j)
	q.mu.Unlock()
	q.wake()
}

// busyLocked says what a job added now would wait for ("" if nothing).
func (q *jobQueue) busyLocked() string {
	var parts []string
	if q.running != nil {
		parts = append(parts, fmt.Sprintf("job %s is running", q.running.id))
	}
	if q.listing {
		parts = append(parts, "the agent is listing the repository's snapshots for the server")
	}
	switch n := len(q.waiting); {
	case n == 1:
		parts = append(parts, fmt.Sprintf("job %s waits before this one", q.waiting[0].id))
	case n > 1:
		parts = append(parts, fmt.Sprintf("%d jobs wait before this one", n))
	}
	return strings.Join(parts, " and ")
}

// cancel takes a waiting job out of the queue (returned, not running) or
// cancels the running one's context (returned, running). Neither: nil.
func (q *jobQueue) cancel(id string) (j *job, running bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.running; r != nil && r.id == id {
		r.canceled.Store(true)
		r.cancel()
		return r, true
	}
	for i, w := range q.waiting {
		if w.id == id {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			return w, false
		}
	}
	return nil, false
}

// runningIDs lists the job running now, for the status heartbeat.
func (q *jobQueue) runningIDs() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running == nil {
		return nil
	}
	return []string{q.running.id}
}

// turn is what the worker does next.
type turn struct {
	job     *job
	expire  bool          // job expired while waiting
	logWait bool          // job waits for its config; say so in its log
	wait    time.Duration // nothing to do: wait this long at most (0: until woken)
}

// next looks at the head of the queue.
func (q *jobQueue) next(now time.Time) turn {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 || q.paused {
		return turn{}
	}
	head := q.waiting[0]
	if !now.Before(head.cmd.ExpiresAt) {
		q.waiting = q.waiting[1:]
		return turn{job: head, expire: true}
	}
	if head.cmd.ConfigVersion > q.a.desired.version() || head.awaitsSource() {
		t := turn{wait: head.cmd.ExpiresAt.Sub(now)}
		if !head.waitLogged {
			head.waitLogged = true
			t.job, t.logWait = head, true
		}
		return t
	}
	q.waiting = q.waiting[1:]
	q.running = head
	return turn{job: head}
}

func (q *jobQueue) done(j *job) {
	q.mu.Lock()
	if q.running == j {
		q.running = nil
	}
	q.mu.Unlock()
}

// work recovers what the previous run left unfinished, then runs jobs one
// at a time until ctx is done. A job running then is stopped gracefully
// and recorded before work returns.
func (q *jobQueue) work(ctx context.Context) {
	a := q.a
	a.recoverJobs()
	close(a.recovered)
	for ctx.Err() == nil {
		t := q.next(time.Now())
		switch {
		case t.expire:
			a.finishWithoutRestic(t.job, topics.JobExpired, expiredReason(t.job.cmd))
			continue
		case t.logWait && t.job.awaitsSource():
			t.job.log.agentf("the agent restarted before this cross-host restore ran and keeps the source host's credentials in memory only: waiting for the server to send them again (the job expires at %s)",
				t.job.cmd.ExpiresAt.UTC().Format(time.RFC3339))
			t.job.log.flush()
			continue
		case t.logWait:
			t.job.log.agentf("this job needs config version %d and this host has applied version %d: waiting for it (the job expires at %s)",
				t.job.cmd.ConfigVersion, a.desired.version(), t.job.cmd.ExpiresAt.UTC().Format(time.RFC3339))
			t.job.log.flush()
			continue
		case t.job != nil:
			a.runJob(t.job)
			q.done(t.job)
			a.listSnapshotsIfDue()
			continue
		}
		var timeout <-chan time.Time
		var timer *time.Timer
		if t.wait > 0 {
			timer = time.NewTimer(t.wait)
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
		case <-q.wakeCh:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
