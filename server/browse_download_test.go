package server

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// The rendezvous of a download and its upload, without a database: the
// registry, tokens, timeouts and bounds. The flow through real agents is
// in cmd/restic-manager/download_e2e_test.go.

type endedDownloads struct {
	mu   sync.Mutex
	errs []error
}

func (e *endedDownloads) record(_ *Download, _ int64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *endedDownloads) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.errs)
}

func newTestDownload(t *testing.T, r *downloadRegistry, host string, ended *endedDownloads) *Download {
	t.Helper()
	d := &Download{Request: DownloadRequest{HostID: host, Snapshot: "latest", Path: "/etc/hosts"}, ended: ended.record}
	if err := r.add(d); err != nil {
		t.Fatalf("add a download of %s: %v", host, err)
	}
	if !topics.ValidDumpToken(d.token) {
		t.Fatalf("token %q has not the form of an upload token", d.token)
	}
	return d
}

func newUpload(body string) *upload {
	return &upload{body: strings.NewReader(body), done: make(chan error, 1)}
}

func TestDownloadTokenIsSingleUse(t *testing.T) {
	var r downloadRegistry
	var ended endedDownloads
	d := newTestDownload(t, &r, "h_one", &ended)
	up := newUpload("hello")
	if _, err := r.attach("h_one", d.token, up); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	if _, err := r.attach("h_one", d.token, newUpload("again")); ErrorCodeOf(err) != CodeNotFound {
		t.Fatalf("replayed token = %v, want not found", err)
	}
	body, err := d.Body(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(body); string(b) != "hello" {
		t.Fatalf("body = %q, want the first upload's", b)
	}
	d.Finish(5, nil)
	if err := <-up.done; err != nil {
		t.Errorf("the upload learns %v, want nil (complete)", err)
	}
	if r.waiting() != 0 || r.total != 0 || len(r.perHost) != 0 {
		t.Errorf("after Finish: %d waiting, %d in progress, per host %v", r.waiting(), r.total, r.perHost)
	}
}

func TestDownloadTokenIsBoundToItsHost(t *testing.T) {
	var r downloadRegistry
	var ended endedDownloads
	d := newTestDownload(t, &r, "h_one", &ended)
	if _, err := r.attach("h_two", d.token, newUpload("x")); ErrorCodeOf(err) != CodeForbidden {
		t.Fatalf("another host's upload = %v, want forbidden", err)
	}
	// The other host's try does not spend it.
	if _, err := r.attach("h_one", d.token, newUpload("x")); err != nil {
		t.Fatalf("its own host's upload after another host tried: %v", err)
	}
	if _, err := r.attach("h_one", topics.DumpTokenPrefix+strings.Repeat("A", 43), newUpload("x")); ErrorCodeOf(err) != CodeNotFound {
		t.Errorf("a token never issued = %v, want not found", err)
	}
	d.Finish(0, nil)
}

func TestDownloadStartTimesOut(t *testing.T) {
	r := downloadRegistry{startTimeout: time.Millisecond}
	var ended endedDownloads
	d := newTestDownload(t, &r, "h_one", &ended)
	if _, err := d.Body(t.Context()); ErrorCodeOf(err) != CodeAgentTimeout {
		t.Fatalf("Body without an upload = %v, want agent timeout", err)
	}
	if r.waiting() != 0 {
		t.Fatalf("%d tokens wait after the timeout, want 0", r.waiting())
	}
	if _, err := r.attach("h_one", d.token, newUpload("late")); ErrorCodeOf(err) != CodeNotFound {
		t.Fatalf("an upload after the timeout = %v, want not found", err)
	}
	d.Finish(0, errors.New("timed out"))
	d.Finish(0, nil) // only the first counts
	if ended.count() != 1 || r.total != 0 {
		t.Errorf("ended %d times, %d in progress; want 1 and 0", ended.count(), r.total)
	}
}

func TestDownloadAbandonedBeforeItsUpload(t *testing.T) {
	var r downloadRegistry
	var ended endedDownloads
	d := newTestDownload(t, &r, "h_one", &ended)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := d.Body(ctx); ErrorCodeOf(err) != CodeUnavailable {
		t.Fatalf("Body of a gone request = %v, want unavailable", err)
	}
	if _, err := r.attach("h_one", d.token, newUpload("late")); ErrorCodeOf(err) != CodeNotFound {
		t.Fatalf("an upload after the person left = %v, want not found", err)
	}
	d.Finish(0, errors.New("gone"))
}

// An upload that arrives as the person gives up is still handed over, so
// that Finish answers it (it is not left waiting for nobody).
func TestDownloadUploadArrivingAsTimeRunsOut(t *testing.T) {
	var r downloadRegistry
	var ended endedDownloads
	d := newTestDownload(t, &r, "h_one", &ended)
	up := newUpload("x")
	if _, err := r.attach("h_one", d.token, up); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := d.Body(ctx); err != nil && !errors.Is(err, context.Canceled) {
		// Either branch of the select may win; both must leave the upload
		// answerable.
		t.Logf("Body = %v", err)
	}
	cut := errors.New("the browser went away")
	d.Finish(0, cut)
	if err := <-up.done; err != cut {
		t.Fatalf("the upload learns %v, want %v", err, cut)
	}
}

func TestDownloadBounds(t *testing.T) {
	r := downloadRegistry{maxPerHost: 2, maxInAll: 3}
	var ended endedDownloads
	a1 := newTestDownload(t, &r, "h_a", &ended)
	newTestDownload(t, &r, "h_a", &ended)
	err := r.add(&Download{Request: DownloadRequest{HostID: "h_a"}})
	if ErrorCodeOf(err) != CodeUnavailable || RetryAfterOf(err) == 0 {
		t.Fatalf("a third download of one host = %v, want unavailable with a retry", err)
	}
	newTestDownload(t, &r, "h_b", &ended)
	if err := r.add(&Download{Request: DownloadRequest{HostID: "h_c"}}); ErrorCodeOf(err) != CodeUnavailable {
		t.Fatalf("a fourth download in all = %v, want unavailable", err)
	}
	a1.Finish(0, errors.New("done"))
	newTestDownload(t, &r, "h_c", &ended) // room again
}
