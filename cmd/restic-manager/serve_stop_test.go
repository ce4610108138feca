package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// TestStopWithADashboardOpen: a browser's event stream never ends by
// itself, so the stop must end it before it waits for the web's requests
// to finish; otherwise every stop with a dashboard open waited out the
// whole shutdown deadline and then cut the stream anyway. The stream ends
// with the stop, the web's requests all finish within the deadline (no
// warning), and the stop says how long each of its steps took.
func TestStopWithADashboardOpen(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	m := startServer(t, t.TempDir()+"/data", "127.0.0.1:0", func(m *Main) {
		m.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	pw := addUser(t, m, "watcher", server.RoleViewer)
	ended := signInHTTP(t, m.HTTPURL(), "watcher", pw).openStream()

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitFor(t, "the event stream to end", 10*time.Second, func() bool {
		select {
		case <-ended:
			return true
		default:
			return false
		}
	})
	out := logs.String()
	if strings.Contains(out, "shutdown deadline") {
		t.Errorf("the stop waited out its deadline for the open event stream:\n%s", out)
	}
	if !strings.Contains(out, "msg=stopped web=") {
		t.Errorf("no line saying how long the stop's steps took:\n%s", out)
	}
}
