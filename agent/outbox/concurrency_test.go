package outbox

import (
	"slices"
	"sync"
	"testing"
)

// Appenders, ackers and readers at once, with segments rotating and being
// deleted under them; run with -race.
func TestConcurrentAppendAckPending(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 2048, MaxBytes: 1 << 30}
	o := openT(t, dir, opts)
	const appenders, each = 6, 150

	var wg sync.WaitGroup
	seqs := make([][]uint64, appenders)
	for a := range appenders {
		wg.Go(func() {
			for i := range each {
				kind := []Kind{KindEvent, KindResult, KindLog}[i%3]
				seq, err := o.Append(kind, testTopic, []byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
				seqs[a] = append(seqs[a], seq)
			}
		})
	}
	done := make(chan struct{})
	var ackers sync.WaitGroup
	for range 2 {
		ackers.Go(func() {
			for {
				page, err := o.Pending(0, 40)
				if err != nil {
					t.Error(err)
					return
				}
				if len(page) == 0 {
					select {
					case <-done:
						return
					default:
						continue
					}
				}
				var ack []uint64
				for i := len(page) - 1; i >= 0; i -= 2 { // out of order, and half
					ack = append(ack, page[i].Seq)
				}
				if err := o.Ack(ack...); err != nil {
					t.Error(err)
					return
				}
				_ = o.Stats()
			}
		})
	}
	wg.Wait()
	close(done)
	ackers.Wait()

	var all []uint64
	for _, s := range seqs {
		if !slices.IsSorted(s) {
			t.Fatalf("one goroutine's seqs are not increasing: %v", s)
		}
		all = append(all, s...)
	}
	slices.Sort(all)
	wantSeqs(t, all, seqRange(1, appenders*each))
	if st := o.Stats(); st.Pending != 0 || st.Segments != 1 {
		t.Fatalf("after acking everything: %+v", st)
	}
	o.Close()
	o = openT(t, dir, opts)
	if p, _ := o.Pending(0, 0); len(p) != 0 || o.HighWater() != appenders*each {
		t.Fatalf("after reopen: %d pending, high water %d", len(p), o.HighWater())
	}
}

func TestConcurrentJournal(t *testing.T) {
	j := openJournalT(t, t.TempDir()+"/journal", JournalOptions{})
	// Eight deliveries of each of 50 commands race; each runs once.
	var ran sync.Map
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := string(rune('A' + i))
				already, err := j.Begin(id, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if already == nil {
					if _, dup := ran.LoadOrStore(id, true); dup {
						t.Errorf("%s ran twice", id)
					}
					if err := j.Finish(id, []byte("ok")); err != nil {
						t.Error(err)
					}
				}
				_ = j.Running()
			}
		})
	}
	wg.Wait()
	if r := j.Running(); len(r) != 0 {
		t.Fatalf("Running = %v", r)
	}
}
