package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// dispatch has --api-clients clients post --dispatch-jobs backup jobs to
// random job hosts, as fast as the API answers, and measures per job the
// POST, the time until the agent had the command, and the time until the
// server had stored "delivered" (the agent's outbox entry acknowledged:
// the server acks only what it stored).
func (r *loadRun) dispatch(ctx context.Context) error {
	o := r.o
	if _, err := r.fleet.jobs(); err != nil { // forget earlier records
		return err
	}
	hosts := r.agents[:o.jobHosts]
	var mu sync.Mutex
	posted := make(map[string]time.Time, o.dispatchJobs)
	var posts []time.Duration
	f := dispatchFigures{Clients: o.apiClients, Jobs: o.dispatchJobs, Hosts: len(hosts)}
	r.fig.Dispatch = &f
	body := map[string]any{"kind": "backup", "paths": []string{"/srv/loadgen"}, "tags": []string{"loadgen"}}
	start := time.Now()
	err := parallel(ctx, o.dispatchJobs, o.apiClients, func(int) error {
		h := hosts[rand.N(len(hosts))]
		var job apiJob
		t0 := time.Now()
		took, err := r.api.do(ctx, "POST", "/api/v1/hosts/"+h.ID+"/jobs", body, &job)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			f.Errors++
			var ae *apiError
			if errors.As(err, &ae) && ae.Status >= 500 {
				f.HTTP5xx++
			}
			if f.Errors == 1 {
				r.logf("dispatch: %v", err)
			}
			return nil
		}
		posts = append(posts, took)
		posted[job.UID] = t0
		return nil
	})
	if err != nil {
		return err
	}
	f.PostsPerSecond = float64(len(posts)) / time.Since(start).Seconds()
	f.POST = summarize(posts)
	var toAgent, delivered []time.Duration
	deadline := time.Now().Add(o.timeout)
	for f.Done < len(posted) {
		recs, err := r.fleet.jobs()
		if err != nil {
			return err
		}
		for _, rec := range recs {
			t0, ok := posted[rec.UID]
			if !ok {
				continue
			}
			f.Done++
			toAgent = append(toAgent, time.Duration(rec.RecvNS-t0.UnixNano()))
			if rec.DeliveredNS > 0 {
				delivered = append(delivered, time.Duration(rec.DeliveredNS-t0.UnixNano()))
			}
		}
		if f.Done < len(posted) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d jobs done after %s", f.Done, len(posted), o.timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	f.ToAgent, f.Delivered = summarize(toAgent), summarize(delivered)
	if f.Errors > 0 {
		return fmt.Errorf("%d of %d job POSTs failed", f.Errors, o.dispatchJobs)
	}
	r.logf("dispatch: %d jobs, delivered p99 %.1f ms", f.Done, f.Delivered.P99MS)
	return nil
}
