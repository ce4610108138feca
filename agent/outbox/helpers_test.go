package outbox

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openT opens the outbox in dir with a quiet logger and closes it at the
// end of the test.
func openT(t testing.TB, dir string, opts Options) *Outbox {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	o, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// payloadFor is the payload test entries carry, so a check can tell which
// entry it sees.
func payloadFor(seq uint64) []byte { return fmt.Appendf(nil, `{"n":%d}`, seq) }

// appendN appends n event entries and returns their seqs.
func appendN(t testing.TB, o *Outbox, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for range n {
		seq, err := o.Append(KindEvent, "rm/v1/hosts/h1/up/job/j1/event", payloadFor(o.HighWater()+1))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// pendingSeqs returns the seqs Pending returns, checking each payload.
func pendingSeqs(t testing.TB, o *Outbox) []uint64 {
	t.Helper()
	es, err := o.Pending(0, 0)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	var seqs []uint64
	for _, e := range es {
		if string(e.Payload) != string(payloadFor(e.Seq)) {
			t.Fatalf("entry %d carries %q", e.Seq, e.Payload)
		}
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// seqRange is lo..hi inclusive.
func seqRange(lo, hi uint64) []uint64 {
	var s []uint64
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

func wantSeqs(t testing.TB, got, want []uint64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("pending seqs = %v, want %v", got, want)
	}
}

// segmentFiles lists the segment files in dir.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyDir copies the regular files of src into a new temp dir.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	names, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range names {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// writeSegment writes a segment file holding entries first..first+n-1
// directly, without fsync: fast set-up for big outboxes.
func writeSegment(t testing.TB, dir string, first uint64, n int, payload []byte) {
	t.Helper()
	buf := []byte(magicSegment)
	for seq := first; seq < first+uint64(n); seq++ {
		buf = append(buf, encodeFrame(recAppend, encodeAppendHeader(seq, KindLog, "rm/v1/hosts/h1/up/job/j1/log"), payload)...)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(first)), buf, 0o600); err != nil {
		t.Fatal(err)
	}
}

// testNow is a fixed instant for records built by hand.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
