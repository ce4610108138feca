package web

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkJobLogFlush measures one tick of the log pipeline to open job
// pages: reading logFlushMax stored lines once, escaping each once, and
// handing every watching page the suffix it lacks. It reports the cost per
// line delivered to one page, which bounds how many lines a second the web
// layer can follow (make bench).
func BenchmarkJobLogFlush(b *testing.B) {
	for _, pages := range []int{1, 10} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			app := newTestApp(b)
			host := app.readyHost("bench-01")
			job := host.start(host.backup())
			texts := make([]string, 1000)
			for first := uint64(1); first <= logFlushMax; first += uint64(len(texts)) {
				for i := range texts {
					texts[i] = fmt.Sprintf("/home/user/project/src/file-%06d.go: 18.2 KiB processed, 0 errors", int(first)+i)
				}
				host.logLines(job, first, texts...)
			}
			hb := app.web.hub
			var clients []*sseClient
			for range pages {
				cl := &sseClient{jobID: job.ID, out: make(chan sseMessage, 1)}
				clients = append(clients, cl)
			}
			hb.mu.Lock()
			for _, cl := range clients {
				hb.clients[cl] = struct{}{}
			}
			hb.mu.Unlock()
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				for _, cl := range clients {
					cl.lastLine = 0
					select {
					case <-cl.out:
					default:
					}
				}
				hb.flushLog(ctx, job.ID, clients)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*logFlushMax*pages), "ns/line/page")
		})
	}
}
