package server

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Every agent message is decoded on its own MQTT connection's read
// goroutine (the broker's inline subscription, HandleShared, Observe). When
// the agents flush their logs together, ~100 of those goroutines become
// runnable at once, each decoding tens of KiB of JSON, and a newly readable
// HTTP connection's goroutine waits in the run queue behind all of them
// (#15: API p99 during the ingest). decodeBound lets at most
// max(1, GOMAXPROCS-1) goroutines decode a large message at once: the
// others wait parked on a channel, not runnable, so the scheduler has a
// core for the API at once, and their connections, not read meanwhile,
// push back on their agents over TCP (the agents' outboxes keep every
// line). Small messages — heartbeats, hellos, job events, replies — bypass
// it: they are cheap and should not wait behind a flush.
//
// Only the decode is bounded: the slot is given back before anything that
// can wait (the writer's queue, a publish), so a holder never waits on
// anything that needs a slot.

// boundedDecodeBytes is the payload size from which a decode takes a slot.
// A heartbeat or a hello is well under it; a log batch of a busy job
// (up to topics.MaxLogBatchBytes) or a snapshot report is above.
const boundedDecodeBytes = 4 << 10

// decodeBound is the limit; its zero value sizes itself on first use.
type decodeBound struct {
	once  sync.Once
	size  int // slots; 0 means max(1, GOMAXPROCS-1) (tests set it before use)
	slots chan struct{}

	// busy and peak count the decodes holding a slot (tests).
	busy, peak atomic.Int64
}

func (b *decodeBound) init() {
	b.once.Do(func() {
		if b.size <= 0 {
			b.size = max(1, runtime.GOMAXPROCS(0)-1)
		}
		b.slots = make(chan struct{}, b.size)
	})
}

// enter takes a slot for the decode of a payload of n bytes, waiting for
// one if all are taken, and says whether it took one (then leave gives it
// back). A small payload takes none.
func (b *decodeBound) enter(n int) bool {
	if n < boundedDecodeBytes {
		return false
	}
	b.init()
	b.slots <- struct{}{}
	now := b.busy.Add(1)
	for p := b.peak.Load(); now > p && !b.peak.CompareAndSwap(p, now); p = b.peak.Load() {
	}
	return true
}

func (b *decodeBound) leave() {
	b.busy.Add(-1)
	<-b.slots
}
