package server

import (
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

func newTestHelloQueue() *helloQueue {
	q := &helloQueue{waiting: make(map[string]*topics.Hello), busy: make(map[string]bool)}
	q.changed = sync.NewCond(&q.mu)
	return q
}

// The hello queue keeps one hello per host, the newest; hosts are served
// oldest first; a host's next hello waits until the worker on its previous
// one is done, so one host is never handled by two workers at once.
func TestHelloQueueCoalescesAndSerialisesPerHost(t *testing.T) {
	q := newTestHelloQueue()
	hello := func(gen uint64) *topics.Hello { return &topics.Hello{ConnGen: gen} }
	q.add("h_a", hello(1))
	q.add("h_b", hello(1))
	q.add("h_a", hello(2)) // a reconnect before the first was taken: replaces it
	host, m, ok := q.take()
	if !ok || host != "h_a" || m.ConnGen != 2 {
		t.Fatalf("first taken: %s %+v %v, want h_a's newest hello", host, m, ok)
	}
	q.add("h_a", hello(3)) // while a worker is on h_a
	host, m, _ = q.take()
	if host != "h_b" || m.ConnGen != 1 {
		t.Fatalf("second taken: %s %+v, want h_b (h_a is busy)", host, m)
	}
	if len(q.order) != 0 {
		t.Fatalf("h_a's next hello is offered while a worker is on it: %v", q.order)
	}
	q.done("h_a")
	host, m, _ = q.take()
	if host != "h_a" || m.ConnGen != 3 {
		t.Fatalf("after done: %s %+v, want h_a's third hello", host, m)
	}
	q.done("h_a")
	q.done("h_b")
	if len(q.waiting) != 0 || len(q.busy) != 0 || len(q.order) != 0 {
		t.Fatalf("queue not empty: %v %v %v", q.waiting, q.busy, q.order)
	}
	q.close()
	if _, _, ok := q.take(); ok {
		t.Fatal("take after close")
	}
	q.add("h_c", hello(1))
	if len(q.waiting) != 0 {
		t.Fatal("a hello was queued after close")
	}
}
