package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// apiTimings times, with the whole fleet enrolled and online, what people
// and scripts load most: GET /api/v1/hosts (its first page, and every page
// of it) and the dashboard (signed in as --admin-user), --api-requests
// times each, one after another.
func (r *loadRun) apiTimings(ctx context.Context) error {
	o := r.o
	hosts, _, _, err := r.api.listHosts(ctx, 0)
	if err != nil {
		return err
	}
	f := apiFigures{Hosts: len(hosts)}
	r.fig.API = &f
	var list []time.Duration
	for range o.apiRequests {
		_, took, _, err := r.api.listHosts(ctx, 0)
		if err != nil {
			return err
		}
		list = append(list, took)
	}
	f.HostsList = summarize(list)
	// The first page alone, at the server's default size (what the
	// dashboard and a script that does not ask for more get).
	var first []time.Duration
	for range o.apiRequests {
		size, took, err := r.get(ctx, r.api.http, "/api/v1/hosts", true)
		if err != nil {
			return err
		}
		first = append(first, took)
		f.FirstPageKiB = float64(size) / 1024
	}
	f.FirstPage = summarize(first)
	if o.adminPass == "" {
		r.logf("api: no --admin-password, the dashboard is not timed")
		return nil
	}
	web, err := r.api.session(ctx, o.adminUser, o.adminPass)
	if err != nil {
		return err
	}
	var dash []time.Duration
	for range o.apiRequests {
		n, took, err := r.get(ctx, web, "/", false)
		if err != nil {
			return err
		}
		dash = append(dash, took)
		f.DashboardKiB = float64(n) / 1024
	}
	d := summarize(dash)
	f.Dashboard = &d
	r.logf("api: GET /api/v1/hosts p99 %.1f ms, dashboard p99 %.1f ms with %d hosts", f.HostsList.P99MS, f.Dashboard.P99MS, f.Hosts)
	return nil
}

// get reads path whole with hc (the API token when bearer) and returns its
// size and how long it took.
func (r *loadRun) get(ctx context.Context, hc *http.Client, path string, bearer bool) (int64, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", r.api.base+path, nil)
	if err != nil {
		return 0, 0, err
	}
	if bearer {
		req.Header.Set("Authorization", "Bearer "+r.api.token)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	if err != nil {
		return n, took, err
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != path {
		return n, took, fmt.Errorf("GET %s: HTTP %d at %s", path, resp.StatusCode, resp.Request.URL.Path)
	}
	return n, took, nil
}
