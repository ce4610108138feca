package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppendAckPendingSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	wantSeqs(t, appendN(t, o, 5), seqRange(1, 5))
	if err := o.Ack(2, 4); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, pendingSeqs(t, o), []uint64{1, 3, 5})
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = openT(t, dir, Options{})
	wantSeqs(t, pendingSeqs(t, o), []uint64{1, 3, 5})
	es, _ := o.Pending(0, 1)
	if len(es) != 1 || es[0].Kind != KindEvent || es[0].Topic != "rm/v1/hosts/h1/up/job/j1/event" {
		t.Fatalf("first pending entry = %+v", es)
	}
	if got := o.Stats(); got.Pending != 3 || got.HighWater != 5 {
		t.Fatalf("Stats = %+v", got)
	}
}

func TestSeqKeepsIncreasingAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{SegmentBytes: 4096, MaxBytes: 1 << 20})
	appendN(t, o, 100) // several segments
	// Everything acked: every segment but the active one goes.
	if err := o.AckThrough(100); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = openT(t, dir, Options{SegmentBytes: 4096, MaxBytes: 1 << 20})
	if hw := o.HighWater(); hw != 100 {
		t.Fatalf("HighWater after reopen = %d, want 100", hw)
	}
	wantSeqs(t, appendN(t, o, 1), []uint64{101})
	wantSeqs(t, pendingSeqs(t, o), []uint64{101})

	// A fresh, empty active segment (rotation just happened) carries the
	// counter in its name.
	o.Close()
	for _, f := range segmentFiles(t, dir) {
		os.Remove(f)
	}
	os.WriteFile(filepath.Join(dir, segmentName(102)), []byte(magicSegment), 0o600)
	o = openT(t, dir, Options{})
	wantSeqs(t, appendN(t, o, 1), []uint64{102})
}

func TestOutOfOrderAcks(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 512, MaxBytes: 1 << 20}
	o := openT(t, dir, opts)
	appendN(t, o, 30)
	// Acks arrive late, repeated, in any order, some for seqs never assigned.
	for _, seqs := range [][]uint64{{7, 3}, {3}, {1, 2}, {30, 0, 999}, {4, 5, 6}} {
		if err := o.Ack(seqs...); err != nil {
			t.Fatal(err)
		}
	}
	want := append(seqRange(8, 29), []uint64{}...)
	wantSeqs(t, pendingSeqs(t, o), want)
	o.Close()
	o = openT(t, dir, opts)
	wantSeqs(t, pendingSeqs(t, o), want)

	// An ack for a seq not yet assigned must not cover the entry that later
	// gets it.
	if err := o.Ack(31); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, appendN(t, o, 1), []uint64{31})
	o.Close()
	o = openT(t, dir, opts)
	wantSeqs(t, pendingSeqs(t, o), append(want, 31))
}

func TestAckThrough(t *testing.T) {
	o := openT(t, t.TempDir(), Options{})
	appendN(t, o, 10)
	if err := o.Ack(9); err != nil {
		t.Fatal(err)
	}
	if err := o.AckThrough(6); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, pendingSeqs(t, o), []uint64{7, 8, 10})
	if err := o.AckThrough(1 << 40); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, pendingSeqs(t, o), nil)
}

func TestPendingPages(t *testing.T) {
	o := openT(t, t.TempDir(), Options{SegmentBytes: 300, MaxBytes: 1 << 20})
	appendN(t, o, 25)
	o.Ack(2, 3, 11, 12, 13, 20)
	var got []uint64
	var after uint64
	for {
		page, err := o.Pending(after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 4 {
			t.Fatalf("page of %d, limit 4", len(page))
		}
		for _, e := range page {
			got = append(got, e.Seq)
		}
		after = page[len(page)-1].Seq
	}
	wantSeqs(t, got, pendingSeqs(t, o))
	if len(got) != 19 {
		t.Fatalf("paged through %d entries, want 19", len(got))
	}
}

func TestSegmentsRotateAndAckedOnesAreDeleted(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1024, MaxBytes: 1 << 20}
	o := openT(t, dir, opts)
	appendN(t, o, 200)
	n := len(segmentFiles(t, dir))
	if n < 5 {
		t.Fatalf("%d segments after 200 appends of ~50 bytes into 1 KiB segments", n)
	}
	for _, f := range segmentFiles(t, dir) {
		if fi, _ := os.Stat(f); fi.Size() > 1024 {
			t.Fatalf("%s is %d bytes, over SegmentBytes", f, fi.Size())
		}
	}
	// A straggler (seq 1, never acked) pins only its own segment.
	if err := o.Ack(seqRange(2, 200)...); err != nil {
		t.Fatal(err)
	}
	segs := segmentFiles(t, dir)
	if len(segs) != 2 || filepath.Base(segs[0]) != segmentName(1) {
		t.Fatalf("segments left: %v, want the straggler's and the active one", segs)
	}
	if err := o.Ack(1); err != nil {
		t.Fatal(err)
	}
	if segs := segmentFiles(t, dir); len(segs) != 1 {
		t.Fatalf("segments left: %v, want only the active one", segs)
	}
	o.Close()
	o = openT(t, dir, opts)
	wantSeqs(t, pendingSeqs(t, o), nil)
	wantSeqs(t, appendN(t, o, 1), []uint64{201})
}

func TestAckFileIsCompacted(t *testing.T) {
	old := ackRewriteSlack
	ackRewriteSlack = 10
	t.Cleanup(func() { ackRewriteSlack = old })
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1024, MaxBytes: 1 << 20}
	o := openT(t, dir, opts)
	appendN(t, o, 300)
	for seq := uint64(1); seq <= 299; seq++ { // one record per ack
		if err := o.Ack(seq); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, ackFileName))
	if err != nil {
		t.Fatal(err)
	}
	// 299 ack records of ~12 bytes would be ~3.5 KiB; compaction keeps only
	// the acks for entries in the active segment.
	if fi.Size() > 1024 {
		t.Fatalf("ack file is %d bytes after compaction", fi.Size())
	}
	o.Close()
	o = openT(t, dir, opts)
	wantSeqs(t, pendingSeqs(t, o), []uint64{300})
}

func TestFullRefusesLogsFirstThenEverything(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 16 << 10, MaxBytes: 64 << 10}
	o := openT(t, dir, opts)
	batch := make([]byte, 1000)
	var logs int
	var err error
	for ; ; logs++ {
		if _, err = o.Append(KindLog, "t/log", batch); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "check the agent's connection") {
		t.Fatalf("Append past the log limit: %v", err)
	}
	if logs < 50 || logs > 62 { // 60 KiB of ~1 KiB entries, less overhead
		t.Fatalf("%d log batches fit before ErrFull", logs)
	}
	// The reserve still takes events and results.
	var events int
	for ; ; events++ {
		if _, err = o.Append(KindResult, "t/event", batch); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) || events < 2 {
		t.Fatalf("after %d events in the reserve: %v", events, err)
	}
	if st := o.Stats(); st.Bytes > opts.MaxBytes {
		t.Fatalf("outbox holds %d bytes, over MaxBytes %d", st.Bytes, opts.MaxBytes)
	}
	// Acks free the space.
	if err := o.AckThrough(o.HighWater()); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(KindLog, "t/log", batch); err != nil {
		t.Fatalf("Append after everything was acked: %v", err)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	o := openT(t, t.TempDir(), Options{})
	for name, call := range map[string]func() error{
		"kind 0":       func() error { _, err := o.Append(0, "t", nil); return err },
		"unknown kind": func() error { _, err := o.Append(9, "t", nil); return err },
		"empty topic":  func() error { _, err := o.Append(KindEvent, "", nil); return err },
		"long topic":   func() error { _, err := o.Append(KindEvent, strings.Repeat("t", MaxTopic+1), nil); return err },
		"big payload":  func() error { _, err := o.Append(KindLog, "t", make([]byte, MaxPayload+1)); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if hw := o.HighWater(); hw != 0 {
		t.Fatalf("rejected appends used seqs: HighWater = %d", hw)
	}
	if _, err := o.Append(KindLog, "t", make([]byte, MaxPayload)); err != nil {
		t.Fatalf("payload of exactly MaxPayload: %v", err)
	}
}

func TestClosedOutboxRefuses(t *testing.T) {
	o := openT(t, t.TempDir(), Options{})
	o.Close()
	if _, err := o.Append(KindEvent, "t", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Append: %v", err)
	}
	if err := o.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack: %v", err)
	}
	if _, err := o.Pending(0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Pending: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{SegmentBytes: 1 << 20, MaxBytes: 1 << 20}); err == nil {
		t.Fatal("MaxBytes below twice SegmentBytes accepted")
	}
}
