package outbox

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Damage in the middle of a file is not a torn write (a crash tears only
// the last one): the records after it must survive, the damaged file must
// be kept aside, and the repair must be said loudly (#9).

// garbage is what the attack run wrote into the middle of a segment.
var garbage = bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16)

// logSink collects log output.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newLogSink() (*logSink, *slog.Logger) {
	s := &logSink{}
	return s, slog.New(slog.NewTextHandler(s, nil))
}

// entryFrameLen is the length of every test entry's frame for seqs 10..99.
func entryFrameLen(seq uint64) int64 {
	return int64(len(encodeFrame(recAppend, encodeAppendHeader(seq, KindEvent, testTopic), payloadFor(seq))))
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// damagedCopies lists the files kept aside in dir.
func damagedCopies(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.damaged-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMidSegmentDamageKeepsTheRecordsAfterIt(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 9) // seqs 1..9 have shorter payloads; start even
	appendN(t, o, 40)
	o.Close()
	seg := filepath.Join(dir, segmentName(1))
	damagedBytes, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// 64 bytes of garbage from the middle of entry 25's frame on.
	start := int64(magicLen)
	for seq := uint64(1); seq < 25; seq++ {
		start += int64(len(encodeFrame(recAppend, encodeAppendHeader(seq, KindEvent, testTopic), payloadFor(seq))))
	}
	at := start + 10
	overwrite(t, seg, at, garbage)
	copy(damagedBytes[at:], garbage)
	var lost []uint64 // the entries the garbage overlaps
	for seq, off := uint64(25), start; off < at+int64(len(garbage)); seq++ {
		lost = append(lost, seq)
		off += entryFrameLen(seq)
	}

	logs, logger := newLogSink()
	o = openT(t, dir, Options{Logger: logger})
	var want []uint64
	for _, seq := range seqRange(1, 49) {
		if !slices.Contains(lost, seq) {
			want = append(want, seq)
		}
	}
	wantSeqs(t, pendingSeqs(t, o), want)
	r := o.Recovered()
	copies := damagedCopies(t, dir)
	if r.LostEntries != len(lost) || !slices.Equal(r.DamagedSegments, []string{seg}) || !slices.Equal(r.DamagedCopies, copies) ||
		len(copies) != 1 || r.TornBytes != 0 {
		t.Fatalf("Recovered = %+v, copies %v; want %d entries lost (%v)", r, copies, len(lost), lost)
	}
	if b, err := os.ReadFile(copies[0]); err != nil || !bytes.Equal(b, damagedBytes) {
		t.Fatalf("the copy kept aside is not the damaged file: %v", err)
	}
	line := logs.String()
	for _, s := range []string{"level=ERROR", "in the middle", "file=" + seg, fmt.Sprintf("offset=%d", start), // the first damaged record
		fmt.Sprintf("entries_lost=%d", len(lost)), fmt.Sprintf("records_kept=%d", len(want)),
		fmt.Sprintf("records_kept_after_damage=%d", 49-int(lost[len(lost)-1])), "damaged_copy=" + copies[0]} {
		if !strings.Contains(line, s) {
			t.Errorf("log %q does not say %q", line, s)
		}
	}
	if strings.Contains(line, "level=WARN") || strings.Count(line, "\n") != 1 {
		t.Errorf("want one line about damage, not a torn record: %q", line)
	}

	// The repair is durable and appends go on after it.
	wantSeqs(t, appendN(t, o, 1), []uint64{50})
	o.Close()
	logs, logger = newLogSink()
	o = openT(t, dir, Options{Logger: logger})
	wantSeqs(t, pendingSeqs(t, o), append(want, 50))
	if r := o.Recovered(); r.LostEntries != 0 || len(r.DamagedSegments) != 0 || logs.String() != "" {
		t.Fatalf("second open found damage again: %+v %q", r, logs.String())
	}
}

// Garbage inserted between two records costs no record at all.
func TestInsertedGarbageLosesNothing(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 20)
	o.Close()
	seg := filepath.Join(dir, segmentName(1))
	b, _ := os.ReadFile(seg)
	at := int64(magicLen)
	for seq := uint64(1); seq <= 10; seq++ {
		at += entryFrameLen(seq)
	}
	os.WriteFile(seg, append(append(slices.Clone(b[:at]), garbage...), b[at:]...), 0o600)
	o = openT(t, dir, Options{})
	wantSeqs(t, pendingSeqs(t, o), seqRange(1, 20))
	if r := o.Recovered(); r.LostEntries != 0 || len(r.DamagedCopies) != 1 {
		t.Fatalf("Recovered = %+v", r)
	}
}

// A torn tail is still only cut: no copy aside, a warning, not an error.
func TestTornTailIsNotDamage(t *testing.T) {
	src, start, size := crashFixture(t)
	logs, logger := newLogSink()
	os.Truncate(filepath.Join(src, segmentName(1)), start+(size-start)/2)
	o := openT(t, src, Options{Logger: logger})
	wantSeqs(t, pendingSeqs(t, o), seqRange(6, 10))
	if r := o.Recovered(); r.TornBytes != (size-start)/2 || len(r.DamagedCopies) != 0 || len(damagedCopies(t, src)) != 0 {
		t.Fatalf("Recovered = %+v", r)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
		t.Fatalf("log %q", l)
	}
}

func TestMidAckFileDamageKeepsLaterAcks(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 12)
	for seq := uint64(1); seq <= 10; seq++ {
		if err := o.Ack(seq); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	acks := filepath.Join(dir, ackFileName)
	rec := int64(len(encodeFrame(recAck, encodeAcks([]uint64{1}))))
	overwrite(t, acks, magicLen+4*rec+2, []byte{0xff, 0xee}) // the ack of 5
	logs, logger := newLogSink()
	o = openT(t, dir, Options{Logger: logger})
	// Entry 5 is sent again (the server stores idempotently); the acks
	// after the damage hold.
	wantSeqs(t, pendingSeqs(t, o), []uint64{5, 11, 12})
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "file="+acks) || len(damagedCopies(t, dir)) != 1 {
		t.Fatalf("log %q, copies %v", l, damagedCopies(t, dir))
	}
}

func TestMidJournalDamageKeepsLaterRecords(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	j := openJournalT(t, path, JournalOptions{})
	var offs []int64
	for i := range 10 {
		fi, _ := os.Stat(path)
		offs = append(offs, fi.Size())
		id := fmt.Sprintf("cmd-%d", i)
		if _, err := j.Begin(id, []byte("detail")); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := j.Finish(id, []byte("ok")); err != nil {
				t.Fatal(err)
			}
		}
	}
	j.Close()
	// Damage the records of cmd-4 (Begin and Finish).
	overwrite(t, path, offs[4]+3, garbage[:offs[5]-offs[4]-6])
	logs, logger := newLogSink()
	j = openJournalT(t, path, JournalOptions{Logger: logger})
	var running []string
	for _, r := range j.Running() {
		running = append(running, r.ID)
	}
	if !slices.Equal(running, []string{"cmd-1", "cmd-3", "cmd-5", "cmd-7", "cmd-9"}) {
		t.Fatalf("Running = %v", running)
	}
	for _, id := range []string{"cmd-0", "cmd-2", "cmd-6", "cmd-8"} {
		if r, ok := j.Lookup(id); !ok || !r.Done || string(r.Outcome) != "ok" {
			t.Fatalf("%s: %+v %v", id, r, ok)
		}
	}
	if _, ok := j.Lookup("cmd-4"); ok {
		t.Fatal("cmd-4's damaged records came back")
	}
	l := logs.String()
	copies := damagedCopies(t, dir)
	if len(copies) != 1 || !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "file="+path) ||
		!strings.Contains(l, fmt.Sprintf("offset=%d", offs[4])) || !strings.Contains(l, "records_kept_after_damage=7") {
		t.Fatalf("log %q, copies %v", l, copies)
	}
	// Durable: the next open finds a clean journal.
	j.Close()
	logs, logger = newLogSink()
	j = openJournalT(t, path, JournalOptions{Logger: logger})
	if len(j.Running()) != 5 || logs.String() != "" {
		t.Fatalf("reopen: %d running, log %q", len(j.Running()), logs.String())
	}
}

// A Finish whose Begin was lost to damage still says the command ran.
func TestJournalFinishOutlivesItsDamagedBegin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	j := openJournalT(t, path, JournalOptions{})
	j.Begin("cmd-a", []byte("detail"))
	j.Begin("cmd-b", nil)
	j.Finish("cmd-a", []byte("done"))
	j.Close()
	overwrite(t, path, magicLen+5, []byte{0, 0, 0}) // cmd-a's Begin
	j = openJournalT(t, path, JournalOptions{})
	if r, ok := j.Lookup("cmd-a"); !ok || !r.Done || string(r.Outcome) != "done" {
		t.Fatalf("cmd-a: %+v %v", r, ok)
	}
	if already, err := j.Begin("cmd-a", nil); err != nil || already == nil || !already.Done {
		t.Fatalf("Begin(cmd-a) after damage: %+v %v; the command would run twice", already, err)
	}
}
