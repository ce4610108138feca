package outbox

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// Pending returns, in seq order, up to limit unacknowledged entries whose
// seq is above after (limit <= 0: all of them). The agent resends them on
// every reconnect, page by page: Pending(0, n), then Pending(last seq, n)...
// Entries are read from disk; the outbox keeps only their positions in
// memory.
//
// An entry whose bytes were damaged on disk since Open is logged and
// skipped (it cannot be delivered; keeping it would pin its segment
// forever).
func (o *Outbox) Pending(after uint64, limit int) ([]Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	var out []Entry
	lost := false
	start := max(sort.Search(len(o.segs), func(i int) bool { return o.segs[i].first > after })-1, 0)
	for _, s := range o.segs[start:] {
		if limit > 0 && len(out) >= limit {
			break
		}
		if s.live == 0 {
			continue
		}
		var pick []int
		j := sort.Search(len(s.slots), func(j int) bool { return s.slots[j].seq > after })
		for ; j < len(s.slots) && (limit <= 0 || len(out)+len(pick) < limit); j++ {
			if !s.slots[j].acked {
				pick = append(pick, j)
			}
		}
		if len(pick) == 0 {
			continue
		}
		entries, err := o.readSlots(s, pick)
		if err != nil {
			return nil, fmt.Errorf("outbox: read pending entries: %w", err)
		}
		for k, e := range entries {
			if e.Seq == 0 {
				lost = true
				sl := &s.slots[pick[k]]
				o.log.Error("outbox: entry damaged on disk; it cannot be delivered", "segment", s.path, "seq", sl.seq)
				sl.acked = true // in memory only: the next Open finds the damage again
				s.live--
				o.pending--
				continue
			}
			out = append(out, e)
		}
	}
	if lost {
		o.dropDeadSegments()
	}
	return out, nil
}

// readSlots reads the entries at s.slots[pick] (in increasing order) with
// one read of the span they cover. A damaged entry comes back as the zero
// Entry.
func (o *Outbox) readSlots(s *segment, pick []int) ([]Entry, error) {
	r := io.ReaderAt(nil)
	if s.file != nil {
		r = s.file.f
	} else {
		f, err := os.Open(s.path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	first, last := s.slots[pick[0]], s.slots[pick[len(pick)-1]]
	buf := make([]byte, last.off+int64(last.n)-first.off)
	if _, err := r.ReadAt(buf, first.off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	entries := make([]Entry, len(pick))
	for k, j := range pick {
		sl := s.slots[j]
		rel := sl.off - first.off
		typ, body, n, err := decodeFrame(buf[rel : rel+int64(sl.n)])
		if err != nil || typ != recAppend || n != int(sl.n) {
			continue
		}
		e, err := decodeAppend(body)
		if err != nil || e.Seq != sl.seq {
			continue
		}
		entries[k] = e
	}
	return entries, nil
}
