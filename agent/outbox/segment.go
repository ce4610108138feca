package outbox

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// segment is one segment file: entries with seqs from first (its name) up
// to, not including, the next segment's first.
type segment struct {
	first uint64
	path  string
	size  int64
	slots []slot   // every entry still on disk, in seq order
	live  int      // slots not acked
	file  *logFile // open only while the segment is active
}

// slot locates one entry inside its segment.
type slot struct {
	seq   uint64
	off   int64 // where its frame starts
	n     int32 // frame length
	acked bool
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	return first, err == nil && first > 0
}

// An append record's body: seq u64 | kind u8 | topic length u16 | topic |
// payload.
const appendHeaderLen = 11

func encodeAppendHeader(seq uint64, kind Kind, topic string) []byte {
	b := make([]byte, appendHeaderLen, appendHeaderLen+len(topic))
	binary.LittleEndian.PutUint64(b[0:8], seq)
	b[8] = byte(kind)
	binary.LittleEndian.PutUint16(b[9:11], uint16(len(topic)))
	return append(b, topic...)
}

// decodeAppend checks an append record's body; Payload aliases body.
func decodeAppend(body []byte) (Entry, error) {
	if len(body) < appendHeaderLen {
		return Entry{}, errInvalid
	}
	e := Entry{Seq: binary.LittleEndian.Uint64(body[0:8]), Kind: Kind(body[8])}
	tl := int(binary.LittleEndian.Uint16(body[9:11]))
	if e.Seq == 0 || !e.Kind.valid() || tl == 0 || tl > MaxTopic || appendHeaderLen+tl > len(body) ||
		len(body)-appendHeaderLen-tl > MaxPayload {
		return Entry{}, errInvalid
	}
	e.Topic = string(body[appendHeaderLen : appendHeaderLen+tl])
	e.Payload = body[appendHeaderLen+tl : len(body) : len(body)] // capped: appending must not overwrite a neighbour
	return e, nil
}

// loadSegments replays the segment files. A record must carry a seq above
// every earlier one and inside its segment's range; anything else is damage.
// The newest segment's torn tail is cut; damage anywhere else (in the middle
// of any segment, or at the end of an older one, which was complete when it
// was sealed) is repaired: the entries around it are kept, the damaged file
// is kept aside, and the entries lost are counted (seqs within a segment
// are consecutive, so the gaps say how many).
func (o *Outbox) loadSegments(firsts []uint64, acked map[uint64]bool) error {
	var last uint64
	for i, first := range firsts {
		s := &segment{first: first, path: filepath.Join(o.dir, segmentName(first))}
		limit := uint64(math.MaxUint64)
		if i+1 < len(firsts) {
			limit = firsts[i+1]
		}
		var lost uint64 // seqs missing between the entries kept: lost to damage
		prev := first - 1
		replay := func(off int64, typ recType, body []byte) error {
			if typ != recAppend {
				return errInvalid
			}
			e, err := decodeAppend(body)
			if err != nil || e.Seq < first || e.Seq <= last || e.Seq >= limit {
				return errInvalid
			}
			last = e.Seq
			lost += e.Seq - prev - 1
			prev = e.Seq
			sl := slot{seq: e.Seq, off: off, n: int32(frameHeader + 1 + len(body)), acked: acked[e.Seq]}
			s.slots = append(s.slots, sl)
			if sl.acked {
				o.ackedSlots++
			} else {
				s.live++
			}
			return nil
		}
		var res loaded
		if i == len(firsts)-1 {
			f, r, err := openLogFile(s.path, magicSegment, replay)
			if err != nil {
				return err
			}
			s.file, s.size, res = f, f.size, r
			if res.cut > 0 {
				o.recovered.TornBytes += res.cut
				o.log.Warn("outbox: cut a torn record from the end of a segment (a write interrupted by a crash)",
					"segment", s.path, "bytes", res.cut)
			}
		} else {
			size, r, err := scanLogFile(s.path, magicSegment, replay)
			if err != nil {
				return err
			}
			s.size, res = size, r
			// The seqs up to the next segment's first were all written
			// here: those missing at the end were lost too.
			lost += limit - 1 - prev
		}
		if res.aside != "" {
			o.recovered.DamagedSegments = append(o.recovered.DamagedSegments, s.path)
			o.recovered.DamagedCopies = append(o.recovered.DamagedCopies, res.aside)
			o.recovered.LostEntries += int(lost)
			what := "in the middle (not a torn write)"
			if len(res.damaged) == 0 {
				what = "at the end of a sealed segment"
			}
			o.log.Error("outbox: segment damaged "+what+"; kept every entry that could be read and the damaged file aside",
				append(res.damageAttrs(s.path), "entries_lost", lost)...)
		}
		o.segs = append(o.segs, s)
		o.pending += s.live
		o.bytes += s.size
	}
	o.next = max(o.next, last+1)
	if len(firsts) > 0 {
		o.next = max(o.next, firsts[len(firsts)-1])
	}
	return nil
}

func (o *Outbox) active() *segment { return o.segs[len(o.segs)-1] }

// addSegment starts a new active segment named after the next seq, so even
// while it is empty its name carries the seq counter across a restart.
func (o *Outbox) addSegment() error {
	path := filepath.Join(o.dir, segmentName(o.next))
	f, err := createLogFile(path, magicSegment)
	if err != nil {
		return err
	}
	if len(o.segs) > 0 {
		old := o.active()
		old.file.close() // every append to it was fsync'd already
		old.file = nil
	}
	o.segs = append(o.segs, &segment{first: o.next, path: path, size: f.size, file: f})
	o.bytes += f.size
	o.dropDeadSegments()
	return nil
}

// dropDeadSegments deletes the segments, other than the active one, whose
// entries are all acked. Acks live in their own file, so any such segment
// may go, not only the oldest: one entry the server never acknowledges pins
// its own segment and nothing else.
func (o *Outbox) dropDeadSegments() {
	keep := o.segs[:0]
	removed := false
	for i, s := range o.segs {
		if s.live > 0 || i == len(o.segs)-1 {
			keep = append(keep, s)
			continue
		}
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			o.log.Warn("outbox: could not delete an acknowledged segment; will retry", "segment", s.path, "err", err)
			keep = append(keep, s)
			continue
		}
		removed = true
		o.bytes -= s.size
		o.ackedSlots -= len(s.slots)
	}
	clear(o.segs[len(keep):])
	o.segs = keep
	if removed {
		if err := syncDir(o.dir); err != nil {
			// A removal that is not durable can only come back as
			// entries that are all acked: harmless.
			o.log.Warn("outbox: fsync after deleting segments", "err", err)
		}
	}
}

// findSlot returns the segment and slot holding seq, or nil.
func (o *Outbox) findSlot(seq uint64) (*segment, *slot) {
	i := sort.Search(len(o.segs), func(i int) bool { return o.segs[i].first > seq }) - 1
	if i < 0 {
		return nil, nil
	}
	s := o.segs[i]
	j := sort.Search(len(s.slots), func(j int) bool { return s.slots[j].seq >= seq })
	if j == len(s.slots) || s.slots[j].seq != seq {
		return nil, nil
	}
	return s, &s.slots[j]
}
