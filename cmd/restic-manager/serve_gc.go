package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The Go collector starts a cycle once the heap has grown by GOGC percent
// (100) of what the last cycle found live. A server of a small fleet keeps
// little live — about 30 MB at 1,000 agents — while an ingest of 100 jobs ×
// 1,000 lines a second allocates about 100 MB a second, most of it in the
// agents' log flushes (the broker's packet buffer and its copies, the
// decoded lines, the stored chunks): two or three cycles in each flush, each
// 100-230 ms long on two cores, during which the cycle's worker and assists
// take a core and API requests wait runnable behind them (docs/scale.md,
// "2026-12-05 late, ingest and the API").
//
// So serve keeps the next cycle at least a headroom above the live heap:
// after every cycle the percent becomes max(100, 100 × headroom / live).
// The headroom is gcHeadroomBytes, or an eighth of the memory the server
// may use when that is less — the machine's, or its cgroup's limit (a
// container, a systemd MemoryMax=): gcMemoryLimit, per platform — so a
// small VPS or container is not pushed towards its limit. A server whose
// live heap is above the headroom (a large fleet) keeps Go's default, so
// its memory per agent does not change; a small one spends at most the
// headroom more on fewer cycles (1,000 agents: RSS ~190 → ~440 MiB, API p99
// during the ingest about half, the server's CPU ~0.8). GOGC or GOMEMLIMIT
// in the environment leave the collector as the operator set it.
const gcHeadroomBytes = 256 << 20

// gcHeadroomFor is the headroom for a server that may use mem bytes (0:
// unknown): gcHeadroomBytes, or an eighth of mem when that is less.
func gcHeadroomFor(mem uint64) uint64 {
	if mem > 0 && mem/8 < gcHeadroomBytes {
		return mem / 8
	}
	return gcHeadroomBytes
}

// keepGCHeadroom starts the adjustment and returns it (nil when the
// environment sets the collector).
func keepGCHeadroom() *gcAdjuster {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	a := &gcAdjuster{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, headroom: gcHeadroomFor(gcMemoryLimit())}
	a.arm()
	return a
}

// gcAdjuster sets the collector's percent after every cycle.
type gcAdjuster struct {
	sample   []metrics.Sample // only the finalizer goroutine touches it
	headroom uint64           // bytes above the live heap (gcHeadroomFor)
	percent  atomic.Int64     // the percent set last (0: none yet)
	stopped  atomic.Bool
}

type gcSentinel struct{ _ [16]byte } // big enough not to share a tiny block

// arm has the next cycle call adjust: a sentinel nothing refers to, whose
// finalizer runs after the cycle that finds it and arms again.
func (a *gcAdjuster) arm() {
	runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) {
		if a.stopped.Load() {
			return
		}
		a.adjust()
		a.arm()
	})
}

func (a *gcAdjuster) adjust() {
	metrics.Read(a.sample)
	if a.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := int64(gcPercentFor(a.sample[0].Value.Uint64(), a.headroom)); p != a.percent.Load() {
		a.percent.Store(p)
		debug.SetGCPercent(int(p))
	}
}

// stop ends the adjustment (tests); the percent stays as last set.
func (a *gcAdjuster) stop() { a.stopped.Store(true) }

// gcPercentFor is the percent that puts the next cycle headroom bytes
// above live: at least 100 (Go's default), at most 1,000, in steps of ten
// so that a live heap moving a little does not change it every cycle.
func gcPercentFor(live, headroom uint64) int {
	if live == 0 {
		return 1000
	}
	return min(1000, max(100, int(100*headroom/live)/10*10))
}
