package main

import (
	"context"
	"fmt"
	"time"
)

// connect starts every agent (at once, or spread over --spread) and
// measures the time until the server lists all of them online, the
// agents' own view (every hello acknowledged), and the server's RSS and
// file descriptors per connected agent.
func (r *loadRun) connect(ctx context.Context) error {
	o := r.o
	rss0, fds0, cpu0 := rssBytes(r.pid), countFDs(r.pid), cpuSeconds(r.pid)
	mark := r.fleet.nextMark()
	start := time.Now()
	r.fleet.send(childCmd{Op: "connect", Spread: o.spread, Mark: mark})
	f := connectFigures{Agents: o.agents, SpreadSeconds: o.spread.Seconds()}
	r.fig.Connect = &f
	online, took, err := r.waitOnline(ctx, time.Time{}, start)
	f.Online, f.AllOnlineSeconds, f.ServerFDsPeak = online, took.Seconds(), r.peakFDs
	f.HostListMaxMs, f.HostPageMaxMs = ms(r.slowestPoll), ms(r.slowestPage)
	if cpu1 := cpuSeconds(r.pid); cpu1 > 0 {
		f.ServerCPUSeconds = cpu1 - cpu0
	}
	if err != nil {
		// The agents' side may still be known (the server accepted them
		// all but its API could not say so).
		if agentSide, aerr := r.waitEstablishedWithin(mark, start, time.Second); aerr == nil {
			f.AgentsSideSeconds = agentSide.Seconds()
		}
		return fmt.Errorf("connect: %w", err)
	}
	agentSide, err := r.waitEstablished(mark, start)
	f.AgentsSideSeconds = agentSide.Seconds()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	r.logf("all %d online in %.1f s", o.agents, f.AllOnlineSeconds)
	// Steady state: let the first heartbeats and the presence flush pass.
	time.Sleep(min(o.heartbeat, 5*time.Second))
	if rss1 := rssBytes(r.pid); rss0 > 0 && rss1 > 0 {
		f.RSSBeforeMiB, f.RSSAfterMiB = float64(rss0)/(1<<20), float64(rss1)/(1<<20)
		f.RSSPerAgentKiB = float64(rss1-rss0) / 1024 / float64(o.agents)
	}
	if fds1 := countFDs(r.pid); fds0 > 0 && fds1 > 0 {
		f.ServerFDsPerAgent = float64(fds1-fds0) / float64(o.agents)
	}
	if st, err := r.fleet.stats(); err == nil && st.fds > 0 {
		f.LoadgenFDsPerAgent = float64(st.fds) / float64(o.agents)
	}
	r.fig.Connect = &f
	return nil
}

// storm makes every agent reconnect at once — the spawned server restarts
// (--storm restart), or every agent drops its connection without a
// DISCONNECT (--storm drop) — and measures the time until the server
// lists all of them online again, on a connection made after the storm
// began; with a restart, also how long the API did not answer.
func (r *loadRun) storm(ctx context.Context) error {
	o := r.o
	mark := r.fleet.nextMark()
	f := stormFigures{Kind: o.storm, Agents: o.agents}
	r.fig.Storm = &f
	start := time.Now()
	cpu0 := cpuSeconds(r.pid)
	before, _ := r.fleet.stats()
	defer func() {
		if after, err := r.fleet.stats(); err == nil {
			f.TLSHandshakes, f.TLSResumed = after.handshakes-before.handshakes, after.resumed-before.resumed
		}
	}()
	if o.storm == "restart" {
		r.fleet.send(childCmd{Op: "mark", Mark: mark})
		r.srv.stop()
		f.StopSeconds = time.Since(start).Seconds()
		start, cpu0 = time.Now(), 0
		apiUp := make(chan time.Duration, 1)
		pollCtx, stopPoll := context.WithCancel(ctx)
		defer stopPoll()
		go func() {
			for pollCtx.Err() == nil {
				if _, err := r.api.do(pollCtx, "GET", "/api/v1/hosts/"+r.agents[0].ID, nil, nil); err == nil {
					apiUp <- time.Since(start)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		if err := r.srv.start(ctx); err != nil {
			return err
		}
		r.pid = r.srv.pid()
		select {
		case d := <-apiUp:
			f.APIDownSeconds = d.Seconds()
		case <-time.After(o.timeout):
			return fmt.Errorf("the API did not answer within %s of the restart", o.timeout)
		}
	} else {
		r.fleet.send(childCmd{Op: "drop", Mark: mark})
	}
	online, took, err := r.waitOnline(ctx, start, start)
	f.Online, f.LeftBehind, f.AllOnlineSeconds, f.ServerFDsPeak = online, o.agents-online, took.Seconds(), r.peakFDs
	f.HostListMaxMs, f.HostPageMaxMs = ms(r.slowestPoll), ms(r.slowestPage)
	if cpu1 := cpuSeconds(r.pid); cpu1 > 0 {
		f.ServerCPUSeconds = cpu1 - cpu0
	}
	if err != nil {
		if agentSide, aerr := r.waitEstablishedWithin(mark, start, time.Second); aerr == nil {
			f.AgentsSideSeconds = agentSide.Seconds()
		}
		return err
	}
	agentSide, err := r.waitEstablished(mark, start)
	f.AgentsSideSeconds = agentSide.Seconds()
	if err != nil {
		return err
	}
	r.logf("storm (%s): all %d back online in %.1f s", o.storm, o.agents, f.AllOnlineSeconds)
	return nil
}

// pollWait bounds one poll of the host list.
const pollWait = 30 * time.Second

// waitOnline polls the host list until every simulated agent is online on
// a connection made at or after since, and returns how many were and how
// long it took from start. It samples the server's descriptors at each
// poll (peakFDs).
func (r *loadRun) waitOnline(ctx context.Context, since, start time.Time) (int, time.Duration, error) {
	want := make(map[string]bool, len(r.agents))
	for _, h := range r.agents {
		want[h.ID] = true
	}
	every := 250 * time.Millisecond
	if len(want) > 2000 {
		every = time.Second // the poll itself is load
	}
	deadline := start.Add(r.o.timeout)
	online := 0
	lastLog := time.Now()
	var lastErr error
	answered := false
	r.peakFDs, r.slowestPoll, r.slowestPage = 0, 0, 0
	for {
		r.peakFDs = max(r.peakFDs, countFDs(r.pid))
		// A poll that does not answer in pollWait is given up, so a server
		// too busy to list its hosts shows as such, poll after poll.
		pctx, cancel := context.WithTimeout(ctx, pollWait)
		hosts, took, page, err := r.api.listHosts(pctx, pollPageSize)
		cancel()
		r.slowestPoll, r.slowestPage = max(r.slowestPoll, took), max(r.slowestPage, page)
		lastErr = err
		if err == nil {
			answered = true
			online = 0
			for _, h := range hosts {
				if want[h.ID] && h.Online && (since.IsZero() || h.ConnectedAt != nil && !h.ConnectedAt.Before(since)) {
					online++
				}
			}
			if online == len(want) {
				return online, time.Since(start), nil
			}
		}
		if time.Now().After(deadline) {
			connected := "?"
			if st, err := r.fleet.stats(); err == nil {
				connected = fmt.Sprint(st.connected)
			}
			if !answered {
				return online, time.Since(start), fmt.Errorf("GET /api/v1/hosts never answered within %s in %s (last: %v); the agents count %s of %d connected",
					pollWait, r.o.timeout, lastErr, connected, len(want))
			}
			return online, time.Since(start), fmt.Errorf("only %d of %d agents online after %s (the agents count %s connected)",
				online, len(want), r.o.timeout, connected)
		}
		if time.Since(lastLog) > 10*time.Second {
			if lastErr != nil {
				r.logf("%d of %d online after %.0f s; the host list answered: %v", online, len(want), time.Since(start).Seconds(), lastErr)
			} else {
				r.logf("%d of %d online after %.0f s", online, len(want), time.Since(start).Seconds())
			}
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return online, time.Since(start), ctx.Err()
		// The next walk starts every after this one started, or at once
		// when it took longer: one walk at a time, back to back, as a
		// script waiting for its fleet would. (Waiting as long again as
		// a slow walk took, as before, put up to a walk's time between
		// the server listing them all and the loadgen asking.)
		case <-time.After(every - took):
		}
	}
}

// waitEstablished waits until every child says all its agents connected
// for mark, and returns when the last did, from start.
func (r *loadRun) waitEstablished(mark int, start time.Time) (time.Duration, error) {
	return r.waitEstablishedWithin(mark, start, r.o.timeout)
}

func (r *loadRun) waitEstablishedWithin(mark int, start time.Time, timeout time.Duration) (time.Duration, error) {
	evs, err := r.fleet.waitAll("established", mark, timeout)
	if err != nil {
		return 0, err
	}
	var last int64
	for _, e := range evs {
		last = max(last, e.AtNS)
	}
	return time.Duration(last - start.UnixNano()), nil
}
