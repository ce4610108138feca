package server

import (
	"slices"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestIngestLanesOrderAndPutBack: events of jobs with nothing waiting go
// first; a job's own messages keep their order; a barrier comes only after
// every earlier event; and what a batch stopped early gives back comes out
// again in the same order, nothing lost or doubled.
func TestIngestLanesOrderAndPutBack(t *testing.T) {
	ev := func(job string, seq uint64) ingestItem {
		return ingestItem{host: "h_1", event: &topics.JobEvent{Job: job, Seq: seq}}
	}
	lg := func(job string, seq uint64, n int) ingestItem {
		return ingestItem{host: "h_1", log: &topics.JobLog{Job: job, Seq: seq, Lines: make([]topics.LogLine, n)}}
	}
	barrier := ingestItem{done: make(chan struct{})}
	seqs := func(b []ingestItem) []uint64 {
		var out []uint64
		for i := range b {
			if b[i].done != nil {
				out = append(out, 0)
			} else {
				out = append(out, b[i].seq())
			}
		}
		return out
	}
	o := IngestOptions{MaxBatch: 4, MaxBatchLines: 25}
	l := newIngestLanes()
	for _, it := range []ingestItem{
		lg("a", 1, 10), lg("a", 2, 10), ev("a", 3), // a's terminal event stays behind its lines
		lg("b", 4, 10), ev("c", 5), // c has nothing waiting: fast lane
		barrier, ev("d", 6), lg("d", 7, 10), ev("d", 8), // d's first event goes first, its second waits behind its line
	} {
		l.add(it)
	}
	var batch []ingestItem
	batch, fromEvents := l.next(batch, o)
	if g := seqs(batch); fromEvents != 2 || !slices.Equal(g, []uint64{5, 6}) {
		t.Fatalf("first batch %v with %d events, want the 2 events [5 6]", g, fromEvents)
	}
	// It stopped after one message: the rest goes back where it came from,
	// and the batches go on in order (a barrier ends a batch).
	l.putBack(batch, 1, fromEvents)
	var got [][]uint64
	for l.len() > 0 {
		batch, _ = l.next(batch, o)
		got = append(got, seqs(batch))
	}
	want := [][]uint64{{6}, {1, 2, 3, 4}, {0}, {7, 8}}
	if len(got) != len(want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("batches %v, want %v", got, want)
		}
	}
	if len(l.waiting) != 0 || l.restLines != 0 || l.barriers != 0 {
		t.Errorf("counts left: waiting %v, lines %d, barriers %d", l.waiting, l.restLines, l.barriers)
	}
}
