package agent

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// flakyBinaryServer serves body over TLS; the first request is cut after
// half the bytes (the connection is closed mid-body), later ones are served
// with Range support. It records every Range header it saw.
type flakyBinaryServer struct {
	*httptest.Server
	body   []byte
	mu     sync.Mutex
	ranges []string
}

func newFlakyBinaryServer(t *testing.T, body []byte, sum string) *flakyBinaryServer {
	s := &flakyBinaryServer{body: body}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		first := len(s.ranges) == 1
		s.mu.Unlock()
		w.Header().Set("X-Checksum-Sha256", sum)
		if first {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "agent", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func pinnedTestClient(srv *httptest.Server) *http.Client {
	sum := sha256.Sum256(srv.Certificate().Raw)
	c := serverHTTPClient("127.0.0.1", sum[:])
	c.Timeout = 0
	return c
}

func testUpgrade(body []byte) *topics.Upgrade {
	sum := sha256.Sum256(body)
	return &topics.Upgrade{Envelope: topics.NewEnvelope(topics.TypeUpgrade, topics.RandomID(topics.HostIDPrefix)),
		Version: "2.0.0", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)), Path: topics.AgentBinaryPathFor("linux", "amd64")}
}

func TestUpgradeDownloadResumesAfterACutConnection(t *testing.T) {
	body := make([]byte, 3<<20)
	rand.Read(body)
	want := testUpgrade(body)
	srv := newFlakyBinaryServer(t, body, want.SHA256)
	dir := t.TempDir()
	stale := filepath.Join(dir, strings.Repeat("0", 64)+".part") // an older build's leftover
	if err := os.WriteFile(stale, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &binaryDownload{client: pinnedTestClient(srv.Server), url: srv.URL + want.Path, dir: dir, want: want,
		opts: downloadOptions{backoff: time.Millisecond}, log: slog.New(slog.DiscardHandler)}
	path, err := d.fetch(t.Context())
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("downloaded %d bytes (err %v), want the %d served", len(got), err, len(body))
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("another build's partial download stays: %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.ranges) != 2 || srv.ranges[0] != "" || !strings.HasPrefix(srv.ranges[1], "bytes=") || srv.ranges[1] == "bytes=0-" {
		t.Fatalf("requests' Range headers %q: want a full request, then one resuming where the cut left off", srv.ranges)
	}
}

func TestUpgradeDownloadRefusesAnotherPin(t *testing.T) {
	body := []byte("agent binary")
	want := testUpgrade(body)
	srv := newFlakyBinaryServer(t, body, want.SHA256)
	other := sha256.Sum256([]byte("another CA"))
	client := serverHTTPClient("127.0.0.1", other[:])
	d := &binaryDownload{client: client, url: srv.URL + want.Path, dir: t.TempDir(), want: want,
		opts: downloadOptions{attempts: 2, backoff: time.Millisecond}, log: slog.New(slog.DiscardHandler)}
	if _, err := d.fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "pinned") {
		t.Fatalf("fetch from a server with another CA: %v, want a pin error", err)
	}
}

func TestUpgradeDownloadChecksumMismatch(t *testing.T) {
	body := []byte("what the server really serves")
	want := testUpgrade(body)
	want.SHA256 = strings.Repeat("00", 32) // the command announced another build
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "agent", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	d := &binaryDownload{client: pinnedTestClient(srv), url: srv.URL + want.Path, dir: dir, want: want,
		opts: downloadOptions{backoff: time.Millisecond}, log: slog.New(slog.DiscardHandler)}
	if _, err := d.fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("fetch: %v, want checksum mismatch", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("a rejected download stays on disk: %v", left)
	}
}
