package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestWaitOnlineAsksAgainAtOnce guards the storm's and the connect's
// figure against the poll's own rhythm: when a walk of the host list is
// slow (the server is busy with the storm), the next walk must start as
// soon as it ends, not a walk's time later — that put up to 12 s between
// the server listing every agent and the loadgen noticing (docs/scale.md,
// "The storm's figure was the loadgen's poll"). The server here answers
// each list after a second; the host is online from the second list on.
func TestWaitOnlineAsksAgainAtOnce(t *testing.T) {
	const slow = time.Second
	since := time.Now()
	var (
		mu       sync.Mutex
		lists    int
		answered time.Time
		gaps     []time.Duration
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/hosts" || r.URL.Query().Get("limit") != "500" {
			t.Errorf("asked %s, want /api/v1/hosts?limit=500", r.URL)
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		if !answered.IsZero() {
			gaps = append(gaps, time.Since(answered))
		}
		lists++
		online := lists > 1
		mu.Unlock()
		time.Sleep(slow)
		at := time.Now()
		h := apiHost{ID: "h_1", Name: "one", Online: online}
		if online {
			h.ConnectedAt = &at
		}
		_ = json.NewEncoder(w).Encode(hostsPage{Hosts: []apiHost{h}})
		mu.Lock()
		answered = time.Now()
		mu.Unlock()
	}))
	defer srv.Close()
	r := &loadRun{o: &options{timeout: time.Minute}, api: newAPIClient(srv.URL, "", false),
		agents: []credHost{{ID: "h_1", Name: "one"}}, logf: t.Logf}
	n, _, err := r.waitOnline(context.Background(), since, since)
	if err != nil || n != 1 {
		t.Fatalf("waitOnline = %d, %v; want 1 online", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if lists != 2 || len(gaps) != 1 {
		t.Fatalf("%d lists (gaps %v), want 2", lists, gaps)
	}
	// Back to back: the second list is asked right after the first's
	// answer, far less than the slow list's own second (which the old
	// rhythm waited again).
	if gaps[0] > slow/2 {
		t.Errorf("the second list came %s after the first was answered; want it at once (a list took %s)", gaps[0], slow)
	}
	if r.slowestPoll < slow || r.slowestPage < slow {
		t.Errorf("slowest walk %s, page %s; want both at least %s", r.slowestPoll, r.slowestPage, slow)
	}
}
