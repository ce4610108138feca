package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Kind says what an entry carries. It decides what a full outbox still
// accepts: log batches are refused first (see Options.MaxBytes).
type Kind uint8

// The kinds of entry.
const (
	KindEvent  Kind = 1 // a job state transition
	KindResult Kind = 2 // a job's terminal transition with its result, or a report such as the snapshot list
	KindLog    Kind = 3 // a batch of log lines
)

func (k Kind) valid() bool { return k >= KindEvent && k <= KindLog }

// String names the kind for logs and errors.
func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindResult:
		return "result"
	case KindLog:
		return "log"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits on one entry. The wire has its own, smaller limits, checked by
// whoever builds the message.
const (
	MaxTopic   = 1024
	MaxPayload = 1 << 20
)

// Entry is one message the agent must deliver. Seq is assigned by Append;
// it is not part of Payload, so the publisher sends it alongside (the
// server names it in down/ack).
type Entry struct {
	Seq     uint64
	Kind    Kind
	Topic   string
	Payload []byte
}

// Options tune an Outbox. The zero value means the defaults.
type Options struct {
	// SegmentBytes is the size at which the outbox starts a new segment
	// file (default 4 MiB). Fully acknowledged segments are deleted whole.
	SegmentBytes int64
	// MaxBytes bounds the outbox on disk (default 1 GiB). Appending beyond
	// it fails with ErrFull. Log batches are refused earlier, once the last
	// sixteenth is reached, so events and results still fit in a backlog
	// of logs.
	MaxBytes int64
	// Logger receives one line per repair made by Open and per damaged
	// entry found later (default slog.Default()).
	Logger *slog.Logger
}

// Errors callers may test for with errors.Is.
var (
	// ErrFull means the server has not acknowledged enough for the outbox
	// to take the entry. Nothing was written; retry after acks arrive.
	ErrFull = errors.New("outbox: full")
	// ErrClosed means the Outbox (or Journal) was closed.
	ErrClosed = errors.New("outbox: closed")
)

// Recovery says what Open found wrong on disk and repaired.
type Recovery struct {
	// TornBytes were cut from the end of the newest segment and the ack
	// file: a write that a crash interrupted. Its Append or Ack never
	// returned, so nothing promised is lost.
	TornBytes int64
	// DamagedSegments are segments with bytes that fail their checksum
	// other than a torn tail (media damage, or a file written over): in
	// the middle of a segment, or anywhere in an older one. They were
	// repaired: every entry that could be read was kept.
	DamagedSegments []string
	// DamagedCopies are where the damaged files (segments and the ack
	// file) were kept, as <name>.damaged-<UTC time>, for inspection. The
	// outbox does not read or delete them.
	DamagedCopies []string
	// LostEntries is how many entries the damage destroyed.
	LostEntries int
}

// Outbox is the agent's durable queue of outgoing messages. It is safe for
// concurrent use.
type Outbox struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	segs       []*segment // oldest first; the last is active (appended to)
	acks       *logFile
	ackSeqs    int    // seqs recorded in the ack file
	ackedSlots int    // slots marked acked in segments still on disk
	next       uint64 // the seq the next Append gets
	pending    int
	bytes      int64 // segments plus ack file
	recovered  Recovery
	closed     bool
}

const ackFileName = "acks"

// Open opens the outbox in dir, creating dir (mode 0700) and an empty
// outbox if needed. It repairs what a crash leaves (see Recovery) and fails
// only when a file is unreadable or not ours, with an error saying which.
// One process at a time may have a directory open.
func Open(dir string, opts Options) (*Outbox, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 4 << 20
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.MaxBytes < 2*opts.SegmentBytes {
		return nil, fmt.Errorf("outbox: MaxBytes (%d) must be at least twice SegmentBytes (%d)",
			opts.MaxBytes, opts.SegmentBytes)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: create %s: %w", dir, err)
	}
	o := &Outbox{dir: dir, opts: opts, log: opts.Logger, next: 1}
	if err := o.load(); err != nil {
		o.closeFiles()
		return nil, fmt.Errorf("outbox: open %s: %w", dir, err)
	}
	return o, nil
}

func (o *Outbox) load() error {
	names, err := os.ReadDir(o.dir)
	if err != nil {
		return err
	}
	var firsts []uint64
	for _, e := range names {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			os.Remove(filepath.Join(o.dir, e.Name())) // an interrupted rewrite or repair
		} else if first, ok := parseSegmentName(e.Name()); ok {
			firsts = append(firsts, first)
		}
	}
	slices.Sort(firsts)

	acked, err := o.loadAcks()
	if err != nil {
		return err
	}
	// Belt and braces: should segments go missing (deleted by hand), seqs
	// still must not restart below an ack on record, or it would cover a
	// new entry.
	for seq := range acked {
		o.next = max(o.next, seq+1)
	}
	if err := o.loadSegments(firsts, acked); err != nil {
		return err
	}
	if len(o.segs) == 0 {
		if err := o.addSegment(); err != nil {
			return err
		}
	}
	o.dropDeadSegments()
	return o.maybeCompactAcks()
}

// Append stores an entry and returns its seq once the entry is on disk
// (fsync'd): only then may it be published. Seqs strictly increase, across
// restarts too. An Append that fails wrote nothing the next Open will see,
// except after a failed fsync, when the entry may yet turn up.
func (o *Outbox) Append(kind Kind, topic string, payload []byte) (uint64, error) {
	return o.AppendWith(kind, topic, func(uint64) ([]byte, error) { return payload, nil })
}

// AppendWith is Append for a payload that must carry its own seq (the wire
// messages do: the server names it in down/ack). build is called with the
// seq the entry gets, under the outbox's lock, so no other Append can take
// that seq in between; it must be quick and must not call the Outbox. If
// build fails, nothing is written, the seq is not used and its error is
// returned as it is.
func (o *Outbox) AppendWith(kind Kind, topic string, build func(seq uint64) ([]byte, error)) (uint64, error) {
	if !kind.valid() {
		return 0, fmt.Errorf("outbox: append: unknown kind %d", kind)
	}
	if topic == "" || len(topic) > MaxTopic {
		return 0, fmt.Errorf("outbox: append: topic must be 1 to %d bytes, not %d", MaxTopic, len(topic))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	seq := o.next
	payload, err := build(seq)
	if err != nil {
		return 0, err
	}
	if len(payload) > MaxPayload {
		return 0, fmt.Errorf("outbox: append: payload of %d bytes is over the %d-byte limit; split it", len(payload), MaxPayload)
	}
	frame := encodeFrame(recAppend, encodeAppendHeader(seq, kind, topic), payload)
	if err := o.checkRoom(kind, int64(len(frame))); err != nil {
		return 0, err
	}
	s := o.active()
	if s.size > magicLen && s.size+int64(len(frame)) > o.opts.SegmentBytes {
		if err := o.addSegment(); err != nil {
			return 0, fmt.Errorf("outbox: append: %w", err)
		}
		s = o.active()
	}
	off := s.file.size
	if err := s.file.append(frame); err != nil {
		return 0, fmt.Errorf("outbox: append seq %d: %w", seq, err)
	}
	s.size = s.file.size
	s.slots = append(s.slots, slot{seq: seq, off: off, n: int32(len(frame))})
	s.live++
	o.pending++
	o.bytes += int64(len(frame))
	o.next++
	return seq, nil
}

func (o *Outbox) checkRoom(kind Kind, n int64) error {
	limit := o.opts.MaxBytes
	if kind == KindLog {
		limit -= o.opts.MaxBytes / 16
	}
	if o.bytes+n+magicLen <= limit {
		return nil
	}
	if n+2*magicLen > limit {
		return fmt.Errorf("%w: an entry of %d bytes cannot fit in an outbox of %d bytes; raise MaxBytes or split the entry",
			ErrFull, n, limit)
	}
	return fmt.Errorf("%w: %d of %d bytes used by %d unacknowledged entries; the server has not "+
		"acknowledged what the agent sent (check the agent's connection); %s entries are refused until it does",
		ErrFull, o.bytes, limit, o.pending, kind)
}

// HighWater is the highest seq ever assigned (0 before the first Append):
// hello's outbox_high.
func (o *Outbox) HighWater() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next - 1
}

// Stats describes the outbox now.
type Stats struct {
	Pending   int    // entries not yet acknowledged
	Bytes     int64  // on disk: segments and ack file
	Segments  int    // segment files
	HighWater uint64 // as HighWater
}

// Stats returns counts for logs and metrics.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{Pending: o.pending, Bytes: o.bytes, Segments: len(o.segs), HighWater: o.next - 1}
}

// Recovered says what Open repaired.
func (o *Outbox) Recovered() Recovery {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.recovered
	r.DamagedSegments = append([]string(nil), r.DamagedSegments...)
	r.DamagedCopies = append([]string(nil), r.DamagedCopies...)
	return r
}

// Close closes the files. Everything Append and Ack returned for is already
// on disk, so a crash instead of Close loses nothing.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	return o.closeFiles()
}

func (o *Outbox) closeFiles() error {
	var err error
	if len(o.segs) > 0 {
		err = o.active().file.close()
	}
	return firstErr(err, o.acks.close())
}
