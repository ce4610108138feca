package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestPacerSamplesEveryPhase guards the API clients of the ingest against
// measuring one moment of a periodic load: the ingest's agents flush their
// logs once a second, and a client paced by a ticker asked at the same
// moment of each second every time (docs/scale.md, "The loadgen's GET
// during ingest"). The pacer's requests, at 2 a second, must fall in every
// tenth of the second alike, and still come at 2 a second on average.
func TestPacerSamplesEveryPhase(t *testing.T) {
	const rate, n = 2.0, 2000
	start := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	p := &pacer{mean: time.Duration(float64(time.Second) / rate), exp: rand.New(rand.NewPCG(1, 2)).ExpFloat64, due: start}
	var bins [10]int
	at := start
	for range n {
		at = p.next(at) // each request answered at once
		bins[at.Sub(start)%time.Second*10/time.Second]++
	}
	for i, c := range bins {
		if c < n/10*7/10 || c > n/10*13/10 {
			t.Errorf("tenth %d of the second has %d of %d requests, want about %d: %v", i, c, n, n/10, bins)
		}
	}
	if got, want := at.Sub(start).Seconds(), n/rate; got < want*0.9 || got > want*1.1 {
		t.Errorf("%d requests took %.0f s, want about %.0f s at %.0f a second", n, got, want, rate)
	}
	// A request that took longer than its gap: the next starts at once.
	late := p.due.Add(time.Hour)
	if got := p.next(late); !got.Equal(late) {
		t.Errorf("after a late answer the next request is due %s after it, want at once", got.Sub(late))
	}
}
