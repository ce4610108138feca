package outbox

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestAppendWithHandsTheSeqToThePayload(t *testing.T) {
	dir := t.TempDir()
	o := openT(t, dir, Options{})
	appendN(t, o, 2)
	seq, err := o.AppendWith(KindEvent, testTopic, func(seq uint64) ([]byte, error) { return payloadFor(seq), nil })
	if err != nil || seq != 3 {
		t.Fatalf("AppendWith = %d, %v", seq, err)
	}
	// A builder that fails writes nothing and uses no seq.
	boom := errors.New("boom")
	if _, err := o.AppendWith(KindEvent, testTopic, func(uint64) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing builder: %v", err)
	}
	if _, err := o.AppendWith(KindEvent, testTopic, func(uint64) ([]byte, error) { return make([]byte, MaxPayload+1), nil }); err == nil {
		t.Fatal("oversized built payload accepted")
	}
	wantSeqs(t, appendN(t, o, 1), []uint64{4})
	o.Close()
	o = openT(t, dir, Options{})
	wantSeqs(t, pendingSeqs(t, o), []uint64{1, 2, 3, 4}) // pendingSeqs checks payloadFor(seq)
}

// Concurrent appenders each see the seq their entry really got: the
// builder runs under the lock.
func TestAppendWithConcurrentSeqsMatch(t *testing.T) {
	o := openT(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				var built uint64
				seq, err := o.AppendWith(KindLog, testTopic, func(seq uint64) ([]byte, error) {
					built = seq
					return payloadFor(seq), nil
				})
				if err != nil || seq != built {
					errs <- fmt.Errorf("AppendWith = %d (built for %d), %v", seq, built, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := len(pendingSeqs(t, o)); got != 160 {
		t.Fatalf("%d entries pending, want 160", got)
	}
}
