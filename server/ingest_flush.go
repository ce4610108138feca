package server

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// verdict is what the writer decided about one message.
type verdict int

const (
	verdictFailed    verdict = iota // not stored (a store error): not acked, the agent resends
	verdictStored                   // applied
	verdictDuplicate                // stored before: acked again, nothing changed
	verdictDeferred                 // an event ahead of a missing earlier one: not acked yet
	verdictRejected                 // refused for good: acked, counted, logged
)

// itemOutcome is the result of applying one message inside the batch's
// transaction; the writer acts on it only after the commit.
type itemOutcome struct {
	verdict verdict
	why     string // verdictRejected: the reason, a metrics label
	resend  bool   // ask the host to resend its outbox (a log gap)
	events  []Event
	ended   *finishedJob
}

func (o itemOutcome) acked() bool {
	return o.verdict == verdictStored || o.verdict == verdictDuplicate || o.verdict == verdictRejected
}

func rejected(why string) itemOutcome { return itemOutcome{verdict: verdictRejected, why: why} }

// flushIngest stores a batch in one transaction, each message inside its
// own savepoint so that one that fails to store does not take the others
// with it, then acks and announces what was committed. When an API write
// waits for the writer (or, for a batch that is not only job events, a job
// event waits in the queue), the batch stops once it stored a quarter of
// its limits (MaxBatchLines, MaxBatch) or held the writer restHold, and
// commits, so the waiting write waits for that, not a whole batch: it
// returns how many of batch it handled, the rest is the caller's to queue
// again.
func (s *Service) flushIngest(batch []ingestItem) (handled int) {
	if len(batch) == 0 {
		return 0
	}
	handled = len(batch)
	// The batch is stored even while the server shuts down: it is short,
	// and an uncommitted batch would only be resent.
	ctx := context.Background()
	out := make([]itemOutcome, len(batch))
	// The writer took its turn in runIngestWriter: a batch of job events
	// only (ingest_lanes.go), a few short UPDATEs that API requests wait
	// for ("delivered" after a POST), ahead of the API writes queued for
	// the writer (inEventsTx); any other after them.
	events := eventsOnly(batch)
	inTx := s.db.inTurnTx
	if events {
		inTx = s.db.inEventsTx
	}
	err := inTx(ctx, func(tx *sqlx.Tx) error {
		began := time.Now()
		w := &batchWriter{s: s, tx: tx, now: s.now(), jobs: make(map[string]*ingestJob)}
		defer w.close()
		// The least a batch stores before it gives way: stopping after
		// every message while API writes keep coming (8 clients posting)
		// made the writer commit one message per API write — 40% fewer
		// lines a second in the loadgen's ingest, for no better API p99.
		minLines, minMsgs := s.ingestOpts.MaxBatchLines/4, s.ingestOpts.MaxBatch/4
		lines := 0
		for i := range batch {
			// A batch of the rest also gives way to a job event waiting in
			// the queue, and after restHold whatever its size: a snapshot
			// report is several statements, and a quarter of a batch of
			// them held the writer for up to half a second.
			enough := lines >= minLines || i >= minMsgs || (!events && time.Since(began) >= restHold)
			waited := s.db.turns.busy() || (!events && s.ingestEvents.Load() > 0)
			if i > 0 && enough && waited {
				handled = i
				return nil
			}
			it := &batch[i]
			lines += it.lines()
			if it.done != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT ingest_item`); err != nil {
				return err
			}
			o, err := w.apply(ctx, it)
			if err != nil {
				s.log.Error("ingest: store message (not acked; the agent resends it)", "host", it.host, "seq", it.seq(), "err", err)
				w.forget() // the savepoint's changes are gone, and so is what the cache learnt
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO ingest_item`); err != nil {
					return err
				}
				o = itemOutcome{}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE ingest_item`); err != nil {
				return err
			}
			out[i] = o
		}
		return nil
	})
	if err != nil {
		// Nothing of it is stored: it all counts as handled (failed, not
		// acked), and the agents resend it.
		s.log.Error("ingest: commit batch (nothing acked; the agents resend)", "messages", len(batch), "err", err)
		clear(out)
		handled = len(batch)
	}
	s.afterCommit(batch[:handled], out[:handled])
	return handled
}

// restHold is the least time a batch of the rest (log lines, snapshot
// reports) holds the writer before it gives way to a waiting API write or
// job event: a commit costs about a millisecond or less, so the batch
// still spends most of the writer's time storing.
const restHold = 10 * time.Millisecond

// eventsOnly reports whether batch holds job events and nothing else.
func eventsOnly(batch []ingestItem) bool {
	for i := range batch {
		if batch[i].event == nil {
			return false
		}
	}
	return true
}

// apply stores one message.
func (w *batchWriter) apply(ctx context.Context, it *ingestItem) (itemOutcome, error) {
	switch {
	case it.event != nil:
		return w.applyEvent(ctx, it.host, it.event)
	case it.log != nil:
		return w.applyLog(ctx, it.host, it.log)
	case it.snap != nil:
		return w.applySnapshots(ctx, it.host, it.snap)
	}
	return itemOutcome{}, fmt.Errorf("empty ingest item")
}

// hostAck gathers what one ack to one host names.
type hostAck struct {
	seqs   []uint64
	seen   map[uint64]bool
	resend bool
}

// afterCommit counts, acks (one down/ack per host), then announces on the
// bus what the batch changed, and finally releases SyncIngest callers.
func (s *Service) afterCommit(batch []ingestItem, out []itemOutcome) {
	acks := make(map[string]*hostAck)
	var hosts []string
	var events []Event
	seenEvent := make(map[Event]bool)
	var ended []*finishedJob
	for i := range batch {
		it, o := &batch[i], out[i]
		if it.done != nil {
			continue
		}
		s.count(it, o)
		if o.acked() || o.resend {
			ha := acks[it.host]
			if ha == nil {
				ha = &hostAck{seen: make(map[uint64]bool)}
				acks[it.host] = ha
				hosts = append(hosts, it.host)
			}
			if seq := it.seq(); o.acked() && !ha.seen[seq] {
				ha.seen[seq] = true
				ha.seqs = append(ha.seqs, seq)
			}
			ha.resend = ha.resend || o.resend
		}
		for _, e := range o.events {
			if !seenEvent[e] {
				seenEvent[e] = true
				events = append(events, e)
			}
		}
		if o.ended != nil {
			ended = append(ended, o.ended)
		}
	}
	pub := s.publisher()
	for _, h := range hosts {
		ha := acks[h]
		if ha.resend && !s.resends.allow(h) {
			ha.resend = false // asked recently; the agent also republishes on its own
		}
		if ha.resend {
			s.ingest.ResendsAsked.Add(1)
		}
		s.publishAck(pub, h, ha.seqs, ha.resend)
	}
	for _, e := range events {
		s.events.Publish(e)
	}
	for _, fj := range ended {
		s.jobEnded(*fj)
	}
	for i := range batch {
		if batch[i].done != nil {
			close(batch[i].done)
		}
	}
}

// count adds a message's verdict to the ingest counters.
func (s *Service) count(it *ingestItem, o itemOutcome) {
	st := &s.ingest
	switch o.verdict {
	case verdictStored:
		st.Accepted.Add(1)
	case verdictDuplicate:
		st.Accepted.Add(1)
		st.Duplicates.Add(1)
	case verdictDeferred:
		st.Deferred.Add(1)
	case verdictRejected:
		st.rejected(o.why)
		s.log.Warn("mqtt message refused (acked: it can never apply)", "why", o.why, "host", it.host, "seq", it.seq())
	case verdictFailed:
		st.Failed.Add(1)
	}
}

// publishAck sends down/ack to host naming seqs (split when there are more
// than one ack may carry).
func (s *Service) publishAck(pub Publisher, host string, seqs []uint64, resend bool) {
	if pub == nil || (len(seqs) == 0 && !resend) {
		return
	}
	for first := true; first || len(seqs) > 0; first = false {
		n := min(len(seqs), topics.MaxAckSeqs)
		m := &topics.Ack{Envelope: topics.NewEnvelope(topics.TypeAck, host), Seqs: seqs[:n], Resend: resend}
		seqs, resend = seqs[n:], false
		b, err := topics.Encode(m)
		if err == nil {
			err = pub.Publish(topics.AckTopic(host), b, false, 1)
		}
		if err != nil {
			s.log.Warn("ingest: publish ack (the agent resends; stored messages are deduplicated)", "host", host, "err", err)
			return
		}
	}
}
