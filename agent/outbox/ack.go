package outbox

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
)

// Acks are kept in their own append-only file, not among the entries: a
// segment whose entries are all acked can then be deleted whatever its age,
// and deleting it loses no ack another segment depends on. An ack record's
// body is a count and then the acked seqs in increasing order, the first as
// a uvarint and the rest as uvarint gaps (consecutive seqs cost a byte each).

// ackRewriteSlack is how many dead seqs (acks for entries already deleted)
// the ack file may hold beyond twice the live ones before it is rewritten.
// A variable so tests can lower it.
var ackRewriteSlack = 4096

// maxAcksPerRecord keeps one ack record well under maxFrameBody.
const maxAcksPerRecord = 256 << 10

// Ack records that the server has durably stored the entries with these
// seqs, in any order and any number of times: seqs that are unknown, already
// acked or not yet assigned are ignored (an ack can never cover an entry
// appended later). When Ack returns, the acks are on disk; a segment whose
// entries are all acked is deleted.
func (o *Outbox) Ack(seqs ...uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	var fresh []uint64
	for _, seq := range seqs {
		if _, sl := o.findSlot(seq); sl != nil && !sl.acked {
			fresh = append(fresh, seq)
		}
	}
	return o.ackLocked(fresh)
}

// AckThrough acks every entry with a seq up to and including upTo: for a
// server that reports a high-water mark below which it has stored
// everything.
func (o *Outbox) AckThrough(upTo uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	var fresh []uint64
	for _, s := range o.segs {
		if s.first > upTo {
			break
		}
		for _, sl := range s.slots {
			if sl.seq > upTo {
				break
			}
			if !sl.acked {
				fresh = append(fresh, sl.seq)
			}
		}
	}
	return o.ackLocked(fresh)
}

// ackLocked makes acks for live, unacked seqs durable, then applies them.
func (o *Outbox) ackLocked(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	var buf []byte
	for chunk := range slices.Chunk(seqs, maxAcksPerRecord) {
		buf = append(buf, encodeFrame(recAck, encodeAcks(chunk))...)
	}
	before := o.acks.size
	if err := o.acks.append(buf); err != nil {
		return fmt.Errorf("outbox: ack: %w", err)
	}
	o.bytes += o.acks.size - before
	o.ackSeqs += len(seqs)
	for _, seq := range seqs {
		s, sl := o.findSlot(seq)
		sl.acked = true
		s.live--
		o.pending--
		o.ackedSlots++
	}
	o.dropDeadSegments()
	if err := o.maybeCompactAcks(); err != nil {
		// The acks are durable; only the tidying failed.
		o.log.Warn("outbox: could not rewrite the ack file; will retry", "err", err)
	}
	return nil
}

// loadAcks replays the ack file into the set of acked seqs.
func (o *Outbox) loadAcks() (map[uint64]bool, error) {
	acked := make(map[uint64]bool)
	f, res, err := openLogFile(filepath.Join(o.dir, ackFileName), magicAcks, func(_ int64, typ recType, body []byte) error {
		seqs, err := decodeAcks(body)
		if typ != recAck || err != nil {
			return errInvalid
		}
		for _, seq := range seqs {
			acked[seq] = true
		}
		o.ackSeqs += len(seqs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	o.acks = f
	o.bytes += f.size
	// Safe either way: at worst entries acked by a lost record are resent,
	// and the server stores idempotently by seq.
	if res.cut > 0 {
		o.recovered.TornBytes += res.cut
		o.log.Warn("outbox: cut a torn record from the end of the ack file (a write interrupted by a crash)",
			"bytes", res.cut)
	}
	if res.aside != "" {
		o.recovered.DamagedCopies = append(o.recovered.DamagedCopies, res.aside)
		o.log.Error("outbox: ack file damaged in the middle (not a torn write); kept the acks after the damage "+
			"and the damaged file aside; entries whose acks were lost will be sent again", res.damageAttrs(f.path)...)
	}
	return acked, nil
}

// maybeCompactAcks rewrites the ack file with only the acks for entries
// still on disk, once dead ones dominate. Segments are deleted before their
// acks are forgotten, so a crash between the two leaves extra acks (for
// seqs that never come back), never a resurrected entry.
func (o *Outbox) maybeCompactAcks() error {
	if o.ackSeqs <= 2*o.ackedSlots+ackRewriteSlack {
		return nil
	}
	var live []uint64
	for _, s := range o.segs {
		for _, sl := range s.slots {
			if sl.acked {
				live = append(live, sl.seq)
			}
		}
	}
	var frames [][]byte
	for chunk := range slices.Chunk(live, maxAcksPerRecord) {
		frames = append(frames, encodeFrame(recAck, encodeAcks(chunk)))
	}
	before := o.acks.size
	if err := o.acks.rewrite(magicAcks, frames); err != nil {
		return err
	}
	o.bytes += o.acks.size - before
	o.ackSeqs = len(live)
	return nil
}

// encodeAcks encodes sorted, distinct seqs.
func encodeAcks(seqs []uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(seqs)))
	var prev uint64
	for _, seq := range seqs {
		b = binary.AppendUvarint(b, seq-prev)
		prev = seq
	}
	return b
}

func decodeAcks(b []byte) ([]uint64, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > uint64(len(b)) {
		return nil, errInvalid
	}
	b = b[k:]
	seqs := make([]uint64, 0, n)
	var prev uint64
	for range n {
		d, k := binary.Uvarint(b)
		if k <= 0 || d == 0 || prev+d < prev {
			return nil, errInvalid
		}
		prev += d
		seqs = append(seqs, prev)
		b = b[k:]
	}
	if len(b) != 0 {
		return nil, errInvalid
	}
	return seqs, nil
}
