package outbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Power loss can leave any prefix of the last write on disk, and media can
// flip bits. These tests make both happen to the files an outbox leaves
// and check the promise: Open succeeds, every entry whose Append returned
// is there, and nothing whose Ack returned comes back.

const testTopic = "rm/v1/hosts/h1/up/job/j1/event"

// crashFixture leaves an outbox with entries 1..10, 1..5 acked, and entry
// 11 as the last record of the segment. It returns the dir and where entry
// 11's frame starts.
func crashFixture(t *testing.T) (dir string, lastStart, size int64) {
	dir = t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 10)
	if err := o.Ack(1, 2, 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	appendN(t, o, 1)
	o.Close()
	seg := filepath.Join(dir, segmentName(1))
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	last := encodeFrame(recAppend, encodeAppendHeader(11, KindEvent, testTopic), payloadFor(11))
	return dir, fi.Size() - int64(len(last)), fi.Size()
}

func TestTornLastRecordAtEveryOffset(t *testing.T) {
	t.Parallel() // its own directories only; the damage loops wait on fsync
	src, start, size := crashFixture(t)
	for cut := start; cut <= size; cut++ {
		dir := copyDir(t, src)
		if err := os.Truncate(filepath.Join(dir, segmentName(1)), cut); err != nil {
			t.Fatal(err)
		}
		o := openT(t, dir, Options{})
		want := seqRange(6, 10)
		if cut == size {
			want = seqRange(6, 11)
		}
		wantSeqs(t, pendingSeqs(t, o), want)
		if got := o.Recovered().TornBytes; got != cut-start && cut != size {
			t.Fatalf("cut at %d: TornBytes = %d, want %d", cut, got, cut-start)
		}
		// Appending after the repair lands on a valid record boundary.
		appendN(t, o, 1)
		o.Close()
		o = openT(t, dir, Options{})
		if got := pendingSeqs(t, o); len(got) != len(want)+1 {
			t.Fatalf("cut at %d: after repair and append, pending = %v", cut, got)
		}
		o.Close()
	}
}

func TestBitFlipInLastRecord(t *testing.T) {
	t.Parallel() // its own directories only; the damage loops wait on fsync
	src, start, size := crashFixture(t)
	for off := start; off < size; off++ {
		for bit := range 8 {
			dir := copyDir(t, src)
			flipBit(t, filepath.Join(dir, segmentName(1)), off, bit)
			o := openT(t, dir, Options{})
			wantSeqs(t, pendingSeqs(t, o), seqRange(6, 10))
			o.Close()
		}
	}
}

func TestTornAckRecord(t *testing.T) {
	t.Parallel() // its own directories only; the damage loops wait on fsync
	src := t.TempDir()
	o := openT(t, src, Options{})
	appendN(t, o, 10)
	o.Ack(1, 2, 3)
	acks := filepath.Join(src, ackFileName)
	fi, _ := os.Stat(acks)
	before := fi.Size()
	o.Ack(4, 5)
	o.Close()
	fi, _ = os.Stat(acks)
	for cut := before; cut <= fi.Size(); cut++ {
		dir := copyDir(t, src)
		os.Truncate(filepath.Join(dir, ackFileName), cut)
		o := openT(t, dir, Options{})
		// The torn Ack never returned: its entries may be resent (the
		// server stores idempotently), the earlier acks hold.
		want := seqRange(4, 10)
		if cut == fi.Size() {
			want = seqRange(6, 10)
		}
		wantSeqs(t, pendingSeqs(t, o), want)
		o.Close()
	}
}

func TestDamagedOlderSegmentKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 512, MaxBytes: 1 << 20}
	o := openT(t, dir, opts)
	appendN(t, o, 30)
	o.Close()
	segs := segmentFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("want 3+ segments, have %d", len(segs))
	}
	// Damage the second record of the first segment.
	frameLen := int64(len(encodeFrame(recAppend, encodeAppendHeader(1, KindEvent, testTopic), payloadFor(1))))
	flipBit(t, segs[0], magicLen+frameLen+frameHeader+3, 0)

	o = openT(t, dir, opts)
	if got := o.Recovered().DamagedSegments; !slices.Equal(got, segs[:1]) {
		t.Fatalf("DamagedSegments = %v", got)
	}
	// Only the damaged entry is lost: the scan finds the next record.
	wantSeqs(t, pendingSeqs(t, o), append([]uint64{1}, seqRange(3, 30)...))
	if r := o.Recovered(); r.LostEntries != 1 || len(r.DamagedCopies) != 1 {
		t.Fatalf("Recovered = %+v, want 1 entry lost and the damaged copy kept", r)
	}
	wantSeqs(t, appendN(t, o, 1), []uint64{31})
}

func TestDamageFoundAfterOpenIsSkipped(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 3)
	frameLen := int64(len(encodeFrame(recAppend, encodeAppendHeader(1, KindEvent, testTopic), payloadFor(1))))
	flipBit(t, filepath.Join(dir, segmentName(1)), magicLen+frameLen+frameLen-1, 3)
	wantSeqs(t, pendingSeqs(t, o), []uint64{1, 3})
	if st := o.Stats(); st.Pending != 2 {
		t.Fatalf("Stats.Pending = %d after losing a damaged entry", st.Pending)
	}
}

func TestTornSegmentHeaderIsRepaired(t *testing.T) {
	for n := range magicLen {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segmentName(7)), []byte(magicSegment[:n]), 0o600)
		o := openT(t, dir, Options{})
		wantSeqs(t, appendN(t, o, 1), []uint64{7})
		o.Close()
	}
}

func TestForeignFilesAreRefusedWithAdvice(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{SegmentBytes: 512, MaxBytes: 1 << 20})
	appendN(t, o, 30)
	o.Close()
	os.WriteFile(segmentFiles(t, dir)[0], []byte("#!/bin/sh\necho not ours\n"), 0o600)
	_, err := Open(dir, Options{Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "move it out of") {
		t.Fatalf("Open with a foreign segment: %v", err)
	}
}

func TestLeftoverRewriteTempIsRemoved(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".acks.tmp-123")
	os.WriteFile(tmp, []byte("half"), 0o600)
	openT(t, dir, Options{})
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file still there: %v", err)
	}
}

func flipBit(t *testing.T, path string, off int64, bit int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// A write that fails leaves nothing behind, and a file whose state is no
// longer known refuses further writes until it is reopened.
func TestFailedWriteRefusesUntilReopen(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 2)
	s := o.active()
	ro, err := os.Open(s.path) // writes, fsync and truncate fail on it
	if err != nil {
		t.Fatal(err)
	}
	s.file.f.Close()
	s.file.f = ro
	if _, err := o.Append(KindEvent, testTopic, nil); err == nil {
		t.Fatal("Append on a read-only file succeeded")
	}
	_, err = o.Append(KindEvent, testTopic, nil)
	if err == nil || !strings.Contains(err.Error(), "restart the agent") {
		t.Fatalf("second Append: %v", err)
	}
	if hw := o.HighWater(); hw != 2 {
		t.Fatalf("failed appends moved HighWater to %d", hw)
	}
	o.Close()
	o = openT(t, dir, Options{})
	wantSeqs(t, pendingSeqs(t, o), []uint64{1, 2})
	wantSeqs(t, appendN(t, o, 1), []uint64{3})
}

// Segments deleted by hand must not let seqs restart under acks on record.
func TestSeqsStayAboveRecordedAcks(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 5)
	o.Ack(4)
	o.Close()
	for _, f := range segmentFiles(t, dir) {
		os.Remove(f)
	}
	o = openT(t, dir, Options{})
	wantSeqs(t, appendN(t, o, 1), []uint64{5})
	wantSeqs(t, pendingSeqs(t, o), []uint64{5})
}
