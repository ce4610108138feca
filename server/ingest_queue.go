package server

import (
	"context"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Store first, ack second (DESIGN §3 "Nothing lost, nothing run twice").
// The broker calls HandleMessage inline, on the publishing client's
// goroutine, after Mochi has already sent its PUBACK: a PUBACK proves
// nothing. So job events, log batches and snapshot reports go through a
// bounded queue to one writer goroutine that applies them in batches, one
// SQLite transaction per batch, and only after the commit publishes one
// down/ack per host naming the outbox sequences it stored (or refused for
// good). Whatever is lost before the commit — a crash, a full queue — is
// still in the agent's outbox and comes again.

// IngestOptions tunes the store-first pipeline. Zero values mean defaults.
type IngestOptions struct {
	// QueueSize bounds the messages waiting for the writer. Default 8192.
	QueueSize int
	// MaxBatch is the most messages one transaction takes. Default 500.
	MaxBatch int
	// MaxBatchLines closes a batch once its log batches hold this many
	// lines (a message is never split). The writer connection is the
	// server's only one, and an API write waits for the batch in progress:
	// 500 messages of 50 lines took more than a second. Default 2,000.
	MaxBatchLines int
	// BatchWait is how long the writer gathers a batch of log lines and
	// snapshot reports after its first message before committing. Job
	// events do not wait (runIngestWriter). Default 20 ms.
	BatchWait time.Duration
	// EnqueueWait is how long an inline handler waits for room in a full
	// queue (backpressure on the publishing agent) before it drops the
	// message, counted in IngestStats.Dropped; the agent's outbox resends
	// it. Default 5 s.
	EnqueueWait time.Duration
	// ResendEvery is the least time between two Resend acks to one host.
	// Default 30 s.
	ResendEvery time.Duration
	// ProgressEvery is the least time between two EventJobProgress of one
	// job on the bus. Default 500 ms.
	ProgressEvery time.Duration
}

func (o IngestOptions) withDefaults() IngestOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 500
	}
	if o.MaxBatchLines <= 0 {
		o.MaxBatchLines = 2000
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 20 * time.Millisecond
	}
	if o.EnqueueWait <= 0 {
		o.EnqueueWait = 5 * time.Second
	}
	if o.ResendEvery <= 0 {
		o.ResendEvery = 30 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 500 * time.Millisecond
	}
	return o
}

// ingestItem is one message for the writer: exactly one of event, log and
// snap is set, or done for a barrier (SyncIngest).
type ingestItem struct {
	host  string
	event *topics.JobEvent
	log   *topics.JobLog
	snap  *topics.SnapshotReport
	done  chan struct{}
}

// lines is the number of log lines the item carries.
func (it *ingestItem) lines() int {
	if it.log != nil {
		return len(it.log.Lines)
	}
	return 0
}

// seq is the item's outbox sequence number.
func (it *ingestItem) seq() uint64 {
	switch {
	case it.event != nil:
		return it.event.Seq
	case it.log != nil:
		return it.log.Seq
	case it.snap != nil:
		return it.snap.Seq
	}
	return 0
}

// enqueue hands an item to the writer, waiting up to EnqueueWait for room.
// It reports false when the item was dropped.
func (s *Service) enqueue(it ingestItem) bool {
	if it.event != nil {
		s.ingestEvents.Add(1) // before the writer can take it: it counts down in take
	}
	select {
	case s.ingestQ <- it:
		return true
	default:
	}
	s.ingest.QueueFull.Add(1)
	t := time.NewTimer(s.ingestOpts.EnqueueWait)
	defer t.Stop()
	select {
	case s.ingestQ <- it:
		return true
	case <-t.C:
		if it.event != nil {
			s.ingestEvents.Add(-1)
		}
		s.ingest.Dropped.Add(1)
		s.log.Warn("ingest: queue full, message dropped (the agent resends it)", "host", it.host, "seq", it.seq())
		return false
	}
}

// SyncIngest waits until every message queued before the call is stored
// and acknowledged (tests, and an orderly shutdown). It needs Run.
func (s *Service) SyncIngest(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case s.ingestQ <- ingestItem{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runIngestWriter drains the queue until ctx ends, then stores what is
// still queued and returns. It moves what is queued into its lanes
// (ingest_lanes.go: job events ahead of other jobs' log lines) and stores
// them batch by batch:
//
//   - job events at once, in a batch of their own (what arrives while one
//     commits makes the next: a group commit). A "delivered" is what a
//     dispatch waits for; lingering BatchWait and then waiting for the
//     rest's turn held it up to 250 ms (docs/scale.md).
//   - the rest once its batch is full or its oldest message has waited
//     BatchWait, and then only once no API write waits for the writer
//     (for at most maxYield): those go first. While the rest waits for its
//     turn, job events that arrive are stored before it.
//
// A batch of the rest ends after MaxBatch messages or MaxBatchLines log
// lines, and stops early when an API write or a job event waits
// (flushIngest), so that waits for one part of a batch, not all of it.
func (s *Service) runIngestWriter(ctx context.Context) {
	opts := s.ingestOpts
	lanes := newIngestLanes()
	var batch []ingestItem
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var yieldUntil time.Time // the end of the rest's wait for its turn; zero: not waiting
	for {
		if ctx.Err() != nil {
			s.drainIngest(lanes, batch)
			return
		}
		s.takeQueued(lanes, opts.QueueSize)
		wait := time.Duration(-1) // no rest: until a message arrives
		var turn <-chan struct{}
		if len(lanes.rest) > 0 {
			if wait = time.Until(lanes.restDue(opts)); wait <= 0 {
				if turn = s.db.turns.waiters(); turn != nil {
					if yieldUntil.IsZero() {
						yieldUntil = time.Now().Add(maxYield)
					}
					wait = time.Until(yieldUntil)
				}
			}
			if wait <= 0 {
				// The rest's turn: after the events already in their lane
				// (a job's own messages keep their order, a barrier comes
				// after every earlier event), before the events queued
				// since, so a steady stream of them cannot hold it back.
				for len(lanes.events) > 0 {
					batch = s.flushNext(lanes, batch)
				}
				batch = s.flushNext(lanes, batch)
				yieldUntil = time.Time{}
				continue
			}
		}
		if len(lanes.events) > 0 {
			batch = s.flushNext(lanes, batch)
			continue
		}
		s.waitIngest(ctx, lanes, timer, wait, turn)
	}
}

// waitIngest waits until a message arrives (it joins the lanes), ctx ends,
// turn is closed or wait is over (wait < 0: no limit). It takes no message
// while the lanes hold QueueSize.
func (s *Service) waitIngest(ctx context.Context, lanes *ingestLanes, timer *time.Timer, wait time.Duration, turn <-chan struct{}) {
	queue := s.ingestQ
	if lanes.len() >= s.ingestOpts.QueueSize {
		queue = nil
	}
	var expired <-chan time.Time
	if wait >= 0 {
		timer.Reset(wait)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case it := <-queue:
		s.take(lanes, it)
	case <-ctx.Done():
	case <-turn:
	case <-expired:
	}
}

// take moves a message from the queue into the lanes.
func (s *Service) take(lanes *ingestLanes, it ingestItem) {
	if it.event != nil {
		s.ingestEvents.Add(-1)
	}
	lanes.add(it)
}

// takeQueued moves queued messages into the lanes, without waiting, until
// the queue is empty or the lanes hold limit messages (0: no limit).
func (s *Service) takeQueued(lanes *ingestLanes, limit int) {
	for limit <= 0 || lanes.len() < limit {
		select {
		case it := <-s.ingestQ:
			s.take(lanes, it)
		default:
			return
		}
	}
}

// flushNext stores the lanes' next batch and puts back what it did not
// apply. It returns the batch slice for reuse.
func (s *Service) flushNext(lanes *ingestLanes, batch []ingestItem) []ingestItem {
	batch, fromEvents := lanes.next(batch, s.ingestOpts)
	applied := s.flushIngest(batch)
	lanes.putBack(batch, applied, fromEvents)
	clear(batch)
	return batch[:0]
}

// drainIngest stores everything still queued (the server stops).
func (s *Service) drainIngest(lanes *ingestLanes, batch []ingestItem) {
	s.takeQueued(lanes, 0)
	for lanes.len() > 0 {
		batch = s.flushNext(lanes, batch)
	}
}
