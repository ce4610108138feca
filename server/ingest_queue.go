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
	// BatchWait is how long the writer gathers a batch after its first
	// message before committing. Default 20 ms.
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
// them batch by batch. A batch ends after MaxBatch messages, MaxBatchLines
// log lines or BatchWait, whichever comes first, and stops early when an
// API write waits for the writer (flushIngest), so that write waits for
// one message, not a whole batch; database/sql hands the connection to a
// waiter when the batch commits.
func (s *Service) runIngestWriter(ctx context.Context) {
	opts := s.ingestOpts
	lanes := newIngestLanes()
	var batch []ingestItem
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if ctx.Err() != nil {
			s.drainIngest(lanes, batch)
			return
		}
		if lanes.len() == 0 {
			select {
			case <-ctx.Done():
				continue
			case it := <-s.ingestQ:
				lanes.add(it)
			}
			timer.Reset(opts.BatchWait)
		gather:
			for !lanes.ready(opts) {
				select {
				case it := <-s.ingestQ:
					lanes.add(it)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
		// Whatever else is queued joins the lanes (so an event queued
		// behind log lines is seen), up to QueueSize messages held here.
		s.takeQueued(lanes, opts.QueueSize)
		batch = s.flushNext(lanes, batch)
	}
}

// takeQueued moves queued messages into the lanes, without waiting, until
// the queue is empty or the lanes hold limit messages (0: no limit).
func (s *Service) takeQueued(lanes *ingestLanes, limit int) {
	for limit <= 0 || lanes.len() < limit {
		select {
		case it := <-s.ingestQ:
			lanes.add(it)
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
