package server

import "time"

// The writer's lanes. The ingest queue (Service.ingestQ) is a channel the
// broker's handlers fill in arrival order; the writer moves what is queued
// into two lanes and builds each batch from the fast one first:
//
//   - events: job events none of whose job's messages wait before them. A
//     "delivered" or "running" is what the API and the dashboard wait for
//     (the dispatch's "delivered", a job's start), and it is one short
//     UPDATE, so it does not wait behind other jobs' log lines — under a
//     heavy ingest that was thousands of lines, several transactions.
//   - rest: log batches, snapshot reports, barriers (SyncIngest), and the
//     events that have a message of their own job before them, in arrival
//     order. A job's own messages keep their order: its terminal event
//     stays behind its last log lines (or the writer would see fewer lines
//     than the event announces and ask the agent to resend its outbox), and
//     an event stays behind an earlier event of its job that waits there.
//
// Nothing is dropped or doubled by the lanes: every message the writer
// takes is in exactly one lane until a committed batch holds it, and the
// part of a batch not applied (it stopped early for an API write) goes back
// to the front of the lane it came from (putBack).
type ingestLanes struct {
	events []ingestItem
	rest   []ingestItem
	// waiting counts the messages of each job in rest (by jobKey).
	waiting   map[string]int
	restLines int // log lines in rest
	barriers  int // SyncIngest barriers in rest
	// restSince is when the oldest message in rest arrived (zero for
	// messages put back: they have waited already).
	restSince time.Time
}

func newIngestLanes() *ingestLanes { return &ingestLanes{waiting: make(map[string]int)} }

// jobKey names the job a message is about ("" for a snapshot report or a
// barrier).
func jobKey(it *ingestItem) string {
	switch {
	case it.event != nil:
		return it.host + "\x00" + it.event.Job
	case it.log != nil:
		return it.host + "\x00" + it.log.Job
	}
	return ""
}

func (l *ingestLanes) len() int { return len(l.events) + len(l.rest) }

// add puts a message in its lane.
func (l *ingestLanes) add(it ingestItem) {
	k := jobKey(&it)
	if it.event != nil && l.waiting[k] == 0 {
		l.events = append(l.events, it)
		return
	}
	if len(l.rest) == 0 {
		l.restSince = time.Now()
	}
	l.rest = append(l.rest, it)
	l.counted(&it, 1)
}

// counted keeps waiting, restLines and barriers for it entering (+1) or
// leaving (-1) rest.
func (l *ingestLanes) counted(it *ingestItem, d int) {
	if k := jobKey(it); k != "" {
		if l.waiting[k] += d; l.waiting[k] <= 0 {
			delete(l.waiting, k)
		}
	}
	l.restLines += d * it.lines()
	if it.done != nil {
		l.barriers += d
	}
}

// ready reports whether a whole batch is waiting in rest, so gathering
// more would only delay it.
func (l *ingestLanes) ready(o IngestOptions) bool {
	return l.len() >= o.MaxBatch || l.restLines >= o.MaxBatchLines || l.barriers > 0
}

// restDue is when rest's next batch is due: BatchWait after its oldest
// message arrived, at once when a whole batch is waiting.
func (l *ingestLanes) restDue(o IngestOptions) time.Time {
	if l.ready(o) {
		return time.Time{}
	}
	return l.restSince.Add(o.BatchWait)
}

// next takes the next batch into batch (reused): the waiting events
// alone, up to MaxBatch — a batch of its own, which does not wait for API
// writes to go first (flushIngest) — or else the rest in order, within
// MaxBatch messages and MaxBatchLines lines; a barrier ends a batch. It
// returns the batch and how many of it came from events. Rest is not
// touched while events wait, so a barrier is taken only after every event
// that came before it.
func (l *ingestLanes) next(batch []ingestItem, o IngestOptions) ([]ingestItem, int) {
	if n := min(len(l.events), o.MaxBatch); n > 0 {
		batch = append(batch[:0], l.events[:n]...)
		clear(l.events[:n]) // the lane's array lets go of what it handed out
		l.events = l.events[n:]
		return batch, n
	}
	batch = batch[:0]
	lines, taken := 0, 0
	for taken < len(l.rest) && len(batch) < o.MaxBatch && lines < o.MaxBatchLines {
		it := l.rest[taken]
		taken++
		batch = append(batch, it)
		lines += it.lines()
		l.counted(&it, -1)
		if it.done != nil {
			break
		}
	}
	clear(l.rest[:taken])
	l.rest = l.rest[taken:]
	return batch, 0
}

// putBack returns batch[applied:] — what a batch stopped early did not
// apply — to the front of the lanes they came from (the first fromEvents
// of batch came from events), in their order.
func (l *ingestLanes) putBack(batch []ingestItem, applied, fromEvents int) {
	if applied >= len(batch) {
		return
	}
	if applied < fromEvents {
		l.events = append(append(make([]ingestItem, 0, fromEvents-applied+len(l.events)), batch[applied:fromEvents]...), l.events...)
	}
	tail := batch[max(applied, fromEvents):]
	if len(tail) == 0 {
		return
	}
	for i := range tail {
		l.counted(&tail[i], 1)
	}
	l.restSince = time.Time{}
	l.rest = append(append(make([]ingestItem, 0, len(tail)+len(l.rest)), tail...), l.rest...)
}
