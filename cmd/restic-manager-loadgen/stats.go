package main

import (
	"slices"
	"time"
)

// latency summarises a set of durations, in milliseconds.
type latency struct {
	N     int     `json:"n"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return latency{N: len(s), P50MS: ms(s[len(s)/2]), P99MS: ms(s[min(len(s)-1, len(s)*99/100)]), MaxMS: ms(s[len(s)-1])}
}
