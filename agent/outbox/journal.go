package outbox

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limits on one journal record.
const (
	MaxCommandID = 255
	MaxDetail    = 1 << 20 // for Begin's detail, Update's state and Finish's outcome alike
)

// journalRewriteSlack is how far the journal file may outgrow twice its live
// records before it is rewritten. A variable so tests can lower it.
var journalRewriteSlack int64 = 64 << 10

// Record is what the journal knows about one command.
type Record struct {
	ID     string
	Detail []byte    // what Begin was given (e.g. the job ID and kind)
	Begun  time.Time // when Begin recorded it
	// State is what the last Update recorded (nil: none) and Updated
	// when. Only an unfinished command has one: Finish drops it.
	State    []byte
	Updated  time.Time
	Done     bool // Finish was called
	Finished time.Time
	Outcome  []byte // what Finish was given: the answer to a duplicate
}

// JournalOptions tune a Journal. The zero value means the defaults.
type JournalOptions struct {
	// Keep is how long a finished command is remembered (default 30
	// days); a command redelivered later than that runs again, so Keep
	// must outlast any command's expires_at. Running commands are kept
	// until they finish.
	Keep   time.Duration
	Logger *slog.Logger // default slog.Default()

	now func() time.Time // tests move time
}

// Journal is the agent's command journal: a command ID it has seen is never
// run twice, even across a crash. It is safe for concurrent use.
type Journal struct {
	opts JournalOptions

	mu        sync.Mutex
	file      *logFile
	recs      map[string]*Record
	liveBytes int64 // what a rewrite would write
	lastSweep time.Time
	closed    bool
}

// OpenJournal opens the journal file at path, creating it (and its
// directory, mode 0700) if needed. A record torn by a crash is cut off: its
// Begin or Finish never returned. Finished records older than Keep are
// dropped.
func OpenJournal(path string, opts JournalOptions) (*Journal, error) {
	if opts.Keep <= 0 {
		opts.Keep = 30 * 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("journal: create %s: %w", filepath.Dir(path), err)
	}
	removeTemps(path)
	j := &Journal{opts: opts, recs: make(map[string]*Record)}
	f, res, err := openLogFile(path, magicJournal, j.replay)
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	j.file = f
	if res.cut > 0 {
		opts.Logger.Warn("journal: cut a torn record from the end (a write interrupted by a crash)",
			"path", path, "bytes", res.cut)
	}
	if res.aside != "" {
		opts.Logger.Error("journal: damaged in the middle (not a torn write); kept the records after the damage "+
			"and the damaged file aside; a command whose records were lost may run again if it is redelivered",
			res.damageAttrs(path)...)
	}
	if err := j.sweep(); err != nil {
		opts.Logger.Warn("journal: could not rewrite the journal file; will retry", "err", err)
	}
	return j, nil
}

// removeTemps deletes what an interrupted rewrite left beside path.
func removeTemps(path string) {
	prefix := "." + filepath.Base(path) + ".tmp-"
	names, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range names {
		if strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
}

// replay applies one record from the file. The first Begin and the first
// Finish for an ID win, and an Update counts only between them; other
// orders cannot have been written by us, except a Finish whose Begin was
// lost to damage, which is kept.
func (j *Journal) replay(_ int64, typ recType, body []byte) error {
	at, id, rest, err := decodeJournal(body)
	if err != nil {
		return errInvalid
	}
	r := j.recs[id]
	switch {
	case typ == recBegin && r == nil:
		j.recs[id] = &Record{ID: id, Detail: rest, Begun: at}
	case typ == recUpdate && r != nil && !r.Done:
		r.State, r.Updated = rest, at
	case typ == recFinish && r != nil && !r.Done:
		r.Done, r.Finished, r.Outcome = true, at, rest
		r.State, r.Updated = nil, time.Time{}
	case typ == recFinish && r == nil:
		// Its Begin was lost to damage earlier in the file: the outcome
		// still says the command ran, so it must not run again.
		j.recs[id] = &Record{ID: id, Begun: at, Done: true, Finished: at, Outcome: rest}
	case typ != recBegin && typ != recFinish && typ != recUpdate:
		return errInvalid
	}
	return nil
}

// Begin records, durably, that command id was received, before it runs.
// If id was seen before, nothing is written and already is the record: the
// caller must not run the command again but answer with already.Outcome
// (or, while !already.Done, wait for it).
func (j *Journal) Begin(id string, detail []byte) (already *Record, err error) {
	if err := checkJournalArgs(id, detail); err != nil {
		return nil, fmt.Errorf("journal: begin: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, ErrClosed
	}
	if r := j.recs[id]; r != nil {
		return r.clone(), nil
	}
	now := j.opts.now()
	frame := encodeJournal(recBegin, now, id, detail)
	if err := j.file.append(frame); err != nil {
		return nil, fmt.Errorf("journal: begin %s: %w", id, err)
	}
	j.recs[id] = &Record{ID: id, Detail: slices.Clone(detail), Begun: now}
	j.liveBytes += int64(len(frame))
	j.maybeSweep()
	return nil, nil
}

// Update records, durably, the state of command id, which must have begun
// and not finished; it replaces the state an earlier Update recorded. The
// agent uses it for what it must know about a command after a crash
// (whether restic had started, how far the log got).
func (j *Journal) Update(id string, state []byte) error {
	return j.appendUnfinished(recUpdate, "update", id, state, func(r *Record, now time.Time, frameLen int) {
		// The frame replaces the last state: the live size grows by the
		// difference only (see recordBytes).
		j.liveBytes += int64(len(state) - len(r.State))
		if r.State == nil {
			j.liveBytes += int64(frameLen - len(state))
		}
		r.State, r.Updated = slices.Clone(state), now
	})
}

// Finish records, durably, the outcome of command id, which must have
// begun and not finished: terminal outcomes never change.
func (j *Journal) Finish(id string, outcome []byte) error {
	return j.appendUnfinished(recFinish, "finish", id, outcome, func(r *Record, now time.Time, frameLen int) {
		if r.State != nil {
			j.liveBytes -= int64(frameLen - len(outcome) + len(r.State))
		}
		r.Done, r.Finished, r.Outcome = true, now, slices.Clone(outcome)
		r.State, r.Updated = nil, time.Time{}
		j.liveBytes += int64(frameLen)
	})
}

// appendUnfinished writes a record of typ about command id, which must have
// begun and not finished, and then lets apply change it in memory.
func (j *Journal) appendUnfinished(typ recType, verb, id string, rest []byte, apply func(r *Record, now time.Time, frameLen int)) error {
	if err := checkJournalArgs(id, rest); err != nil {
		return fmt.Errorf("journal: %s: %w", verb, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	r := j.recs[id]
	if r == nil {
		return fmt.Errorf("journal: %s %q: no such command (Begin it first, or it expired)", verb, id)
	}
	if r.Done {
		return fmt.Errorf("journal: %s %q: already finished at %s; a finished command's outcome never changes",
			verb, id, r.Finished.UTC().Format(time.RFC3339))
	}
	now := j.opts.now()
	frame := encodeJournal(typ, now, id, rest)
	if err := j.file.append(frame); err != nil {
		return fmt.Errorf("journal: %s %s: %w", verb, id, err)
	}
	apply(r, now, len(frame))
	j.maybeSweep()
	return nil
}

// Lookup returns the record for id.
func (j *Journal) Lookup(id string) (Record, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r := j.recs[id]; r != nil {
		return *r.clone(), true
	}
	return Record{}, false
}

// Running returns the commands begun and not finished, oldest first, each
// with its last State. Right after OpenJournal these are the commands the
// agent had not finished when it stopped: it reports those whose state says
// they had started as interrupted and Finishes them, and queues the others
// again.
func (j *Journal) Running() []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Record
	for _, r := range j.recs {
		if !r.Done {
			out = append(out, *r.clone())
		}
	}
	sortRecords(out)
	return out
}

// Close closes the file. Everything Begin and Finish returned for is
// already on disk.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	return j.file.close()
}

func (r *Record) clone() *Record {
	c := *r
	c.Detail, c.Outcome, c.State = slices.Clone(r.Detail), slices.Clone(r.Outcome), slices.Clone(r.State)
	return &c
}

func sortRecords(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		if c := a.Begun.Compare(b.Begun); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func checkJournalArgs(id string, data []byte) error {
	if id == "" || len(id) > MaxCommandID {
		return fmt.Errorf("command id must be 1 to %d bytes, not %d", MaxCommandID, len(id))
	}
	if len(data) > MaxDetail {
		return fmt.Errorf("%d bytes is over the %d-byte limit for one record", len(data), MaxDetail)
	}
	return nil
}

// A journal record's body: unix nanoseconds i64 | id length u8 | id | rest
// (Begin's detail, Update's state or Finish's outcome).
func encodeJournal(typ recType, at time.Time, id string, rest []byte) []byte {
	head := binary.LittleEndian.AppendUint64(nil, uint64(at.UnixNano()))
	head = append(append(head, byte(len(id))), id...)
	return encodeFrame(typ, head, rest)
}

func decodeJournal(b []byte) (at time.Time, id string, rest []byte, err error) {
	if len(b) < 9 {
		return at, "", nil, errInvalid
	}
	n := int(b[8])
	if n == 0 || 9+n > len(b) || len(b)-9-n > MaxDetail {
		return at, "", nil, errInvalid
	}
	at = time.Unix(0, int64(binary.LittleEndian.Uint64(b))).UTC()
	return at, string(b[9 : 9+n]), b[9+n:], nil
}
