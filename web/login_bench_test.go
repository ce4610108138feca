package web

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// BenchmarkLoginBurst fires the attack run's burst, 40 concurrent wrong
// sign-ins from one address, at the real HTTP handler with the real argon2id
// check, and reports what it cost: the peak Go heap and RSS growth over the
// burst (before #9: +1-2.5 GB RSS) and how the 40 were answered.
func BenchmarkLoginBurst(b *testing.B) {
	for _, tc := range []struct {
		name string
		user func(int) string
	}{
		{"one-name", func(int) string { return "admin" }},
		{"a-name-each", func(i int) string { return fmt.Sprintf("guess%d", i) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var peakHeap, rssGrowth uint64
			counts := map[int]int{}
			for range b.N {
				b.StopTimer()
				app := newTestApp(b)
				servertest.MustCreateUser(b, app.svc, "admin", server.RoleAdmin)
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heapBefore, rssBefore := ms.HeapInuse, procStatusKiB("VmRSS")
				// Reset VmHWM (the peak RSS) to the current RSS.
				_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
				var stop atomic.Bool
				sampled := make(chan uint64)
				go func() { // the heap's high-water mark during the burst
					var peak uint64
					for !stop.Load() {
						var m runtime.MemStats
						runtime.ReadMemStats(&m)
						peak = max(peak, m.HeapInuse)
						time.Sleep(5 * time.Millisecond)
					}
					sampled <- peak
				}()
				b.StartTimer()
				res := loginBurst(b, app, 40, tc.user)
				b.StopTimer()
				stop.Store(true)
				if p := <-sampled; p > heapBefore {
					peakHeap = max(peakHeap, p-heapBefore)
				}
				if hwm := procStatusKiB("VmHWM"); hwm > rssBefore {
					rssGrowth = max(rssGrowth, (hwm-rssBefore)*1024)
				}
				for _, r := range res {
					if r.Response != nil {
						counts[r.StatusCode]++
					}
				}
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(float64(peakHeap)/(1<<20), "heap-growth-MiB")
			b.ReportMetric(float64(rssGrowth)/(1<<20), "rss-growth-MiB")
			b.ReportMetric(float64(counts[http.StatusTooManyRequests])/n, "429s/burst")
			b.ReportMetric(float64(counts[http.StatusServiceUnavailable])/n, "503s/burst")
			b.ReportMetric(float64(counts[http.StatusUnauthorized])/n, "401s/burst")
		})
	}
}

// procStatusKiB reads a "kB" field of /proc/self/status (0 if unavailable).
func procStatusKiB(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
