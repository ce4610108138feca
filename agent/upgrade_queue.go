package agent

import (
	"context"
	"time"
)

// pausePoll is how often pauseAndWait looks whether the running job ended.
const pausePoll = 250 * time.Millisecond

// setPaused holds (or releases) the queue: while paused no job starts;
// jobs arriving wait, journaled, and run after the restart (or after the
// pause ends, when the upgrade fails before the swap).
func (q *jobQueue) setPaused(on bool) {
	q.mu.Lock()
	q.paused = on
	q.mu.Unlock()
	if !on {
		q.wake()
	}
}

// pauseAndWait pauses the queue and waits until no job runs and no snapshot
// listing is under way, or ctx ends.
func (q *jobQueue) pauseAndWait(ctx context.Context) error {
	q.setPaused(true)
	t := time.NewTicker(pausePoll)
	defer t.Stop()
	logged := false
	for {
		q.mu.Lock()
		idle := q.running == nil && !q.listing
		running := q.running
		q.mu.Unlock()
		if idle {
			return nil
		}
		if running != nil && !logged {
			logged = true
			q.a.log.Info("upgrade waits for the running job to finish", "job", running.id)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
