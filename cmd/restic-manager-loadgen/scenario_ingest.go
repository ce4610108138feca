package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// ingest runs --ingest-jobs backup jobs at once, each writing
// --ingest-rate log lines a second for --ingest-duration, while
// --api-clients clients post jobs and read hosts through the API, each at
// --api-rate requests a second. It measures the lines stored a second, the
// server's CPU, and the API's latency meanwhile, waits until every agent's
// outbox is acknowledged (timed apart), then reads every log back through
// the API and counts lines lost and stored twice.
func (r *loadRun) ingest(ctx context.Context) error {
	o := r.o
	f := ingestFigures{Jobs: o.ingestJobs, Rate: o.ingestRate, Seconds: o.ingestSeconds.Seconds(), LineBytes: o.lineBytes,
		Flush: o.ingestFlush, APIClients: o.apiClients, APIRate: o.apiRate}
	r.fig.Ingest = &f
	r.fleet.send(childCmd{Op: "ingest", Ingest: ingestParams{Rate: o.ingestRate, Seconds: o.ingestSeconds, Flush: o.ingestFlush}})
	if _, err := r.fleet.waitAll("ok", 0, time.Minute); err != nil {
		return err
	}
	if _, err := r.fleet.jobs(); err != nil {
		return err
	}
	hosts := r.agents[:o.ingestJobs]
	others := r.agents[o.ingestJobs:o.jobHosts]
	if len(others) == 0 {
		others = hosts
	}
	cpu0 := cpuSeconds(r.pid)
	start := time.Now()
	jobs := make([]apiJob, len(hosts))
	body := map[string]any{"kind": "backup", "paths": []string{"/srv/loadgen"}, "tags": []string{ingestTag}}
	var failedMu sync.Mutex
	if err := parallel(ctx, len(hosts), o.apiClients, func(i int) error {
		// A server failure is counted against the API (it is one) and the
		// job posted again, so the ingest still runs.
		return retryBusy(ctx, func() error {
			_, err := r.api.do(ctx, "POST", "/api/v1/hosts/"+hosts[i].ID+"/jobs", body, &jobs[i])
			if err != nil {
				r.logf("ingest: %v", err)
				var ae *apiError
				failedMu.Lock()
				f.APIErrors++
				if errors.As(err, &ae) && ae.Status >= 500 {
					f.API5xx++
				}
				failedMu.Unlock()
			}
			return err
		})
	}); err != nil {
		return err
	}
	setupErrors, setup5xx := f.APIErrors, f.API5xx
	load := r.apiLoad(ctx, others)
	uids := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		uids[j.UID] = true
	}
	var lastDone int64
	done := 0
	deadline := start.Add(o.ingestSeconds + o.timeout)
	for done < len(jobs) {
		recs, err := r.fleet.jobs()
		if err != nil {
			load.stop()
			return err
		}
		for _, rec := range recs {
			if uids[rec.UID] {
				done++
				lastDone = max(lastDone, rec.DoneNS)
			}
		}
		if done < len(jobs) {
			if time.Now().After(deadline) {
				load.stop()
				return fmt.Errorf("%d of %d ingest jobs done after %s", done, len(jobs), time.Since(start).Round(time.Second))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	elapsed := time.Duration(lastDone - start.UnixNano())
	if cpu := cpuSeconds(r.pid) - cpu0; cpu0 > 0 {
		f.ServerCPUPercent = 100 * cpu / elapsed.Seconds()
	}
	if rss := rssBytes(r.pid); rss > 0 {
		f.ServerRSSMiB = float64(rss) / (1 << 20)
	}
	f.APIPost, f.APIGet, f.APIErrors, f.API5xx = load.stop()
	f.APIErrors += setupErrors
	f.API5xx += setup5xx
	// What the jobs sent is acknowledged when their ends are (the outbox
	// acks in order); what the API's jobs sent meanwhile may still be on
	// its way: the scenario waits for it, and reports the wait apart.
	ackStart := time.Now()
	unacked, err := r.waitAcked(ctx, ackStart.Add(o.timeout))
	if err != nil {
		return err
	}
	f.AckWaitSeconds = time.Since(ackStart).Seconds()
	if unacked > 0 {
		return fmt.Errorf("%d outbox entries still unacknowledged %s after the ingest jobs ended", unacked, o.timeout)
	}
	f.ElapsedSeconds = elapsed.Seconds()
	f.Expected = int64(o.ingestJobs) * int64(o.ingestRate) * int64(o.ingestSeconds/time.Second)
	for _, j := range jobs {
		stored, doubled, err := r.countLog(ctx, j)
		if err != nil {
			return err
		}
		f.Stored += stored
		f.Doubled += doubled
	}
	f.Lost = f.Expected - f.Stored
	f.LinesPerSecond = float64(f.Stored) / elapsed.Seconds()
	r.logf("ingest: %d lines stored in %.1f s, %d lost, %d doubled", f.Stored, f.ElapsedSeconds, f.Lost, f.Doubled)
	if f.Lost != 0 || f.Doubled != 0 {
		return fmt.Errorf("%d lines lost and %d stored twice", f.Lost, f.Doubled)
	}
	if f.APIErrors > 0 {
		return fmt.Errorf("%d API calls failed during ingest (%d with HTTP 5xx)", f.APIErrors, f.API5xx)
	}
	return nil
}

// waitAcked polls the agents' outboxes until nothing is left
// unacknowledged or deadline passes, and returns how many entries are.
func (r *loadRun) waitAcked(ctx context.Context, deadline time.Time) (int, error) {
	for {
		st, err := r.fleet.stats()
		if err != nil {
			return 0, err
		}
		if st.pending == 0 || time.Now().After(deadline) {
			return st.pending, nil
		}
		select {
		case <-ctx.Done():
			return st.pending, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var logLineRE = regexp.MustCompile(`^loadgen (j_[a-z0-9]+) line (\d+)`)

// countLog reads a job's whole log through the API and returns the
// distinct line numbers stored and the lines stored more than once.
func (r *loadRun) countLog(ctx context.Context, j apiJob) (distinct, doubled int64, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/log", r.api.base, j.ID), nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+r.api.token)
	resp, err := r.api.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("job %d log: HTTP %d", j.ID, resp.StatusCode)
	}
	seen := map[int64]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := logLineRE.FindSubmatch(sc.Bytes())
		if m == nil || string(m[1]) != j.UID {
			continue
		}
		n, _ := strconv.ParseInt(string(m[2]), 10, 64)
		if seen[n] {
			doubled++
		}
		seen[n] = true
	}
	return int64(len(seen)), doubled, sc.Err()
}

// apiLoad is --api-clients clients each posting a job to one of hosts and
// reading a host, in turn, until stopped.
type apiLoad struct {
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	mu            sync.Mutex
	posts, gets   []time.Duration
	errors, err5x int
}

func (r *loadRun) apiLoad(ctx context.Context, hosts []credHost) *apiLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &apiLoad{cancel: cancel}
	body := map[string]any{"kind": "backup", "paths": []string{"/srv/loadgen"}, "tags": []string{"loadgen"}}
	for c := range r.o.apiClients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			pace := newPacer(r.o.apiRate)
			for i := c; pace.wait(ctx); i++ {
				h := hosts[i%len(hosts)]
				took, err := r.api.do(ctx, "POST", "/api/v1/hosts/"+h.ID+"/jobs", body, nil)
				l.record(ctx, &l.posts, took, err)
				if !pace.wait(ctx) {
					return
				}
				took, err = r.api.do(ctx, "GET", "/api/v1/hosts/"+h.ID, nil, nil)
				l.record(ctx, &l.gets, took, err)
			}
		}()
	}
	return l
}

// pacer spaces an API client's requests at rate a second on average, as
// people and scripts do, not as fast as the server answers. The gaps are
// random (exponential: the requests of a client, and of all of them, are
// a Poisson process), so the requests fall at every moment of the
// server's cycles alike: the ingest's agents flush their logs once a
// second, all in the same few milliseconds, and a client paced by a
// ticker started beside them asked every time at the same moment of that
// second, measuring only the flush or only the quiet between (docs/
// scale.md, "The loadgen's GET during ingest"). A request that took longer
// than its gap starts the next at once, without a burst to catch up.
// Rate 0 never waits.
type pacer struct {
	mean time.Duration
	exp  func() float64 // an exponential draw of mean 1
	due  time.Time
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{mean: time.Duration(float64(time.Second) / rate), exp: rand.ExpFloat64, due: time.Now()}
}

// next is when the request after one due at p.due is due, at now or
// later.
func (p *pacer) next(now time.Time) time.Time {
	p.due = p.due.Add(time.Duration(p.exp() * float64(p.mean)))
	if p.due.Before(now) {
		p.due = now
	}
	return p.due
}

// wait blocks until the next request is due; false when ctx ended.
func (p *pacer) wait(ctx context.Context) bool {
	if p.mean == 0 {
		return ctx.Err() == nil
	}
	now := time.Now()
	t := time.NewTimer(p.next(now).Sub(now))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (l *apiLoad) record(ctx context.Context, into *[]time.Duration, took time.Duration, err error) {
	if ctx.Err() != nil {
		return // stopped mid-request: not a server failure
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errors++
		var ae *apiError
		if errors.As(err, &ae) && ae.Status >= 500 {
			l.err5x++
		}
		return
	}
	*into = append(*into, took)
}

func (l *apiLoad) stop() (posts, gets latency, errs, err5x int) {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return summarize(l.posts), summarize(l.gets), l.errors, l.err5x
}
