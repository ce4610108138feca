package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// notifyRequest is one request a loopback receiver got.
type notifyRequest struct {
	path   string
	header http.Header
	body   []byte
}

// notifyReceiver is a real HTTP server on 127.0.0.1 that records what
// notification channels send it.
type notifyReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []notifyRequest
}

func newNotifyReceiver(t *testing.T) *notifyReceiver {
	t.Helper()
	r := &notifyReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, notifyRequest{path: req.URL.Path, header: req.Header.Clone(), body: b})
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

// wait waits until the receiver holds at least n requests and returns them.
func (r *notifyReceiver) wait(t *testing.T, n int) []notifyRequest {
	t.Helper()
	var got []notifyRequest
	waitUntil(t, "the receiver's requests", func() bool {
		r.mu.Lock()
		got = append([]notifyRequest(nil), r.got...)
		r.mu.Unlock()
		return len(got) >= n
	})
	return got
}

// waitUntil polls cond until it holds, or fails the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
