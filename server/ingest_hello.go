package server

import (
	"context"
	"sync"

	"github.com/restic-manager/restic-manager/topics"
)

// A hello's resends (the config, run and cancel commands, the pending
// upgrade: afterHello, upgradeAfterHello) read the store, and the broker
// calls HandleMessage on the publishing client's goroutine: in a reconnect
// storm that was thousands of goroutines querying SQLite at once, more than
// half of the server's CPU. So HandleMessage records the hello in presence
// (memory) and hands the resends to helloWorkers goroutines through this
// queue, and the connection goes on at once.
//
// The queue holds at most one hello per host: a newer hello of a host
// replaces one still waiting (the agent reconnected; the older connection's
// resends would be stale), so it never holds more than the fleet. One
// host's hellos are never handled by two workers at once, and are handled
// in the order they came. Ordering towards the agent is kept: the agent
// sends its outbox after its hello whatever the server does, and the
// resends were never ordered against the ingest writer, which runs on its
// own goroutine too (docs/jobs.md, "Resends after hello").
const helloWorkers = 4

type helloQueue struct {
	mu      sync.Mutex
	changed *sync.Cond               // broadcast when a hello is taken or done, or on close
	waiting map[string]*topics.Hello // by host: the newest hello not yet taken
	order   []string                 // hosts with a waiting hello that no worker is on, oldest first
	busy    map[string]bool          // hosts a worker is on
	closed  bool
	wg      sync.WaitGroup
}

// startHelloWorkers starts the workers that do the resends of queued
// hellos; closeHellos stops them.
func (s *Service) startHelloWorkers() {
	q := &helloQueue{waiting: make(map[string]*topics.Hello), busy: make(map[string]bool)}
	q.changed = sync.NewCond(&q.mu)
	s.hellos = q
	for range helloWorkers {
		q.wg.Go(func() {
			for {
				host, m, ok := q.take()
				if !ok {
					return
				}
				ctx := context.Background()
				s.afterHello(ctx, host, m)
				s.upgradeAfterHello(ctx, host, m)
				q.done(host)
			}
		})
	}
}

// add queues the resends of host's hello m.
func (q *helloQueue) add(host string, m *topics.Hello) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return // shutting down: the agent says hello again to the next server
	}
	if _, queued := q.waiting[host]; !queued && !q.busy[host] {
		q.order = append(q.order, host)
	}
	q.waiting[host] = m
	q.changed.Broadcast()
}

// take waits for the oldest waiting hello of a host no worker is on; ok is
// false once the queue is closed.
func (q *helloQueue) take() (host string, m *topics.Hello, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.changed.Wait()
	}
	if q.closed {
		return "", nil, false
	}
	host, q.order = q.order[0], q.order[1:]
	if len(q.order) == 0 {
		q.order = nil // let a storm's backing array go
	}
	m = q.waiting[host]
	delete(q.waiting, host)
	q.busy[host] = true
	return host, m, true
}

// done marks host's hello handled; a newer one that came meanwhile is
// queued now.
func (q *helloQueue) done(host string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.busy, host)
	if _, queued := q.waiting[host]; queued {
		q.order = append(q.order, host)
	}
	q.changed.Broadcast()
}

// close stops the workers after the hellos they are on; waiting hellos are
// dropped (the agents say hello again after a restart).
func (q *helloQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.changed.Broadcast()
	q.mu.Unlock()
	q.wg.Wait()
}

// SyncHellos waits until the resends of every hello received before the
// call are done (tests; production never waits for them).
func (s *Service) SyncHellos(ctx context.Context) error {
	q := s.hellos
	idle := make(chan struct{})
	go func() {
		q.mu.Lock()
		for (len(q.waiting) > 0 || len(q.busy) > 0) && !q.closed {
			q.changed.Wait()
		}
		q.mu.Unlock()
		close(idle)
	}()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
