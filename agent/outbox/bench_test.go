package outbox

import (
	"path/filepath"
	"strconv"
	"testing"
)

// Figures, not assertions: `make bench` prints them. Every Append is an
// fsync, so Append throughput is the disk's fsync rate.

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 32 << 10} {
		b.Run("payload="+strconv.Itoa(size), func(b *testing.B) {
			o := openT(b, b.TempDir(), Options{})
			payload := make([]byte, size)
			b.SetBytes(int64(size))
			n := 0
			for b.Loop() {
				seq, err := o.Append(KindLog, testTopic, payload)
				if err != nil {
					b.Fatal(err)
				}
				if n++; n%1000 == 0 { // the server keeps up, as it should
					if err := o.AckThrough(seq); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// pendingFixture writes 100k log entries of 100 bytes in 10 segments.
func pendingFixture(b *testing.B) string {
	dir := b.TempDir()
	for i := range 10 {
		writeSegment(b, dir, uint64(i*10000+1), 10000, make([]byte, 100))
	}
	return dir
}

func BenchmarkOpen100k(b *testing.B) {
	dir := pendingFixture(b)
	for b.Loop() {
		o, err := Open(dir, Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		o.Close()
	}
}

func BenchmarkPending100k(b *testing.B) {
	dir := pendingFixture(b)
	o := openT(b, dir, Options{})
	for _, limit := range []int{0, 1000} {
		b.Run("page="+strconv.Itoa(limit), func(b *testing.B) {
			total := 0
			for b.Loop() {
				var after uint64
				for {
					es, err := o.Pending(after, limit)
					if err != nil {
						b.Fatal(err)
					}
					total += len(es)
					if len(es) == 0 || limit == 0 {
						break
					}
					after = es[len(es)-1].Seq
				}
			}
			if total != 100000*b.N {
				b.Fatalf("read %d entries in %d rounds", total, b.N)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

func BenchmarkJournalBeginFinish(b *testing.B) {
	j := openJournalT(b, filepath.Join(b.TempDir(), "journal"), JournalOptions{})
	i := 0
	for b.Loop() {
		id := "cmd-" + strconv.Itoa(i)
		i++
		if _, err := j.Begin(id, []byte(`{"job":"j1","kind":"backup"}`)); err != nil {
			b.Fatal(err)
		}
		if err := j.Finish(id, []byte(`{"state":"succeeded"}`)); err != nil {
			b.Fatal(err)
		}
	}
}
