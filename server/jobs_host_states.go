package server

import (
	"context"
	"slices"
	"sync"
	"time"
)

// A backup or stats job that ends changes its host's retained monitor
// state (the last backup, its last success and overdue, the repository's
// size), so jobEnded has it published again. Loading the host for it
// (GetHost with its tags, health and drills, then its newest backup and
// repository size: about ten queries) ran on the ingest writer's goroutine,
// after each batch's commit and before the next batch: a batch of 500
// messages ending ~100 backups held the writer 50-180 ms, and the job events
// that came meanwhile ("delivered", which a dispatch waits for) waited for
// it — the tail of "delivered" at 1,000 agents (docs/scale.md, "dispatch:
// the host states off the writer").
//
// So jobEnded only names the host here, and one goroutine publishes the
// states: the hosts named while it works are loaded together, monitorBatch
// at a time (ListHostsByID and monitorFactsOf, a handful of queries for the
// batch), and a host named several times before its turn is loaded once.
// The state is read after the job's commit, so it shows the job; a host
// named again while its state is being loaded is loaded again.
type hostStateQueue struct {
	mu      sync.Mutex
	changed *sync.Cond      // signalled when a host is named, or on close
	waiting map[string]bool // hosts whose state is to be published
	closed  bool
	wg      sync.WaitGroup
}

// startHostStates starts the worker that publishes the monitor states
// jobEnded asks for; hostStates.close stops it.
func (s *Service) startHostStates() {
	q := &hostStateQueue{waiting: make(map[string]bool)}
	q.changed = sync.NewCond(&q.mu)
	s.hostStates = q
	q.wg.Go(func() {
		for {
			ids, ok := q.take()
			if !ok {
				return
			}
			s.publishHostStates(ids)
		}
	})
}

// add names a host whose monitor state is to be published again.
func (q *hostStateQueue) add(host string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return // stopping: the next start republishes every host's state
	}
	q.waiting[host] = true
	q.changed.Signal()
}

// take waits for named hosts and returns them all; ok is false once the
// queue is closed.
func (q *hostStateQueue) take() (ids []string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.waiting) == 0 && !q.closed {
		q.changed.Wait()
	}
	if q.closed {
		return nil, false
	}
	for id := range q.waiting {
		ids = append(ids, id)
	}
	clear(q.waiting)
	return ids, true
}

// close stops the worker after the batch it is on; hosts still named are
// dropped (a start republishes every host's state, Presence.Run).
func (q *hostStateQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.changed.Broadcast()
	q.mu.Unlock()
	q.wg.Wait()
}

// publishHostStates loads the hosts ids, monitorBatch at a time, and
// publishes the retained monitor state of each (a revoked host has none).
func (s *Service) publishHostStates(ids []string) {
	pub := s.publisher()
	if pub == nil {
		return
	}
	slices.Sort(ids)
	for batch := range slices.Chunk(ids, monitorBatch) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hosts, err := s.ListHostsByID(ctx, batch)
		if err != nil {
			s.log.Warn("monitor: load the hosts of ended jobs", "hosts", len(batch), "err", err)
			cancel()
			continue
		}
		facts := s.monitorFactsOf(ctx, batch)
		cancel()
		// A presence flush publishes the same hosts' states beside this
		// goroutine: online as it is now, under its lock.
		s.presence.publishStatesNow(pub, hosts, facts)
	}
}
