package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentKeepsHeadroom(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1000},
		{8 << 20, 1000},        // 256 MB over 8 MB would be 3,200 %: capped
		{30 << 20, 850},        // 1,000 agents: the next cycle ~255 MB later
		{64 << 20, 400},        //
		{128 << 20, 200},       //
		{256 << 20, 100},       // Go's default from here on
		{700 << 20, 100},       // a large fleet: unchanged
		{(256 << 20) - 1, 100}, // 100.0000x %, rounded down to the step
	} {
		if got := gcPercentFor(c.live, gcHeadroomBytes); got != c.want {
			t.Errorf("gcPercentFor(%d MB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// The headroom is an eighth of the memory the server may use when that is
// below 256 MB, and the percent follows it.
func TestGCHeadroomFollowsMemory(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mem, want uint64
	}{
		{0, gcHeadroomBytes},        // unknown
		{24 << 30, gcHeadroomBytes}, // a server with room
		{2 << 30, gcHeadroomBytes},  // an eighth is exactly 256 MB
		{1 << 30, 128 << 20},        // a 1 GB VPS or container
		{512 << 20, 64 << 20},       //
	} {
		if got := gcHeadroomFor(c.mem); got != c.want {
			t.Errorf("gcHeadroomFor(%d MB) = %d MB, want %d MB", c.mem>>20, got>>20, c.want>>20)
		}
	}
	// 1,000 agents' ~30 MB live in a 512 MB container: the next cycle
	// ~64 MB later, not 256.
	if got := gcPercentFor(30<<20, gcHeadroomFor(512<<20)); got != 210 {
		t.Errorf("30 MB live, 512 MB container: %d %%, want 210", got)
	}
}

// The adjuster sets the percent after a cycle, and leaves a collector the
// environment configured alone.
//
// Not parallel: it sets GOGC in the environment and the process's
// collector percent.
func TestKeepGCHeadroomSetsThePercent(t *testing.T) {
	t.Setenv("GOGC", "150")
	if a := keepGCHeadroom(); a != nil {
		a.stop()
		t.Fatal("GOGC set: keepGCHeadroom should leave the collector alone")
	}
	t.Setenv("GOGC", "")
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	a := keepGCHeadroom()
	defer a.stop()
	deadline := time.Now().Add(10 * time.Second)
	for a.percent.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no percent set 10 s after cycles")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	// A test binary's live heap is far below the headroom: above 100. (A
	// server another test ran in this process adjusts the same way.)
	if p := a.percent.Load(); p <= 100 {
		t.Fatalf("the adjuster set %d %%, want above 100", p)
	}
	if got := debug.SetGCPercent(100); got <= 100 {
		t.Fatalf("collector percent %d, want the adjuster's, above 100", got)
	}
}
