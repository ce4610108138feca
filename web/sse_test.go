package web

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// sseStream is an open /events stream read line by line in the background.
type sseStream struct {
	t      testing.TB
	events chan sseMessage
	ended  chan struct{}
}

// openEvents opens path as c and returns once the server says the stream is
// subscribed, so nothing published afterwards can be missed.
func (c *client) openEvents(path string) *sseStream { return c.openEventsWith(path, nil) }

// openEventsWith is openEvents with extra request headers (Last-Event-ID).
func (c *client) openEventsWith(path string, header http.Header) *sseStream {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.app.srv.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		c.t.Fatalf("GET %s = %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sseStream{t: c.t, events: make(chan sseMessage, 64), ended: make(chan struct{})}
	connected := make(chan struct{})
	go func() {
		defer close(s.ended)
		defer res.Body.Close()
		r := bufio.NewReader(res.Body)
		var m sseMessage
		var data []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == ": connected":
				close(connected)
			case strings.HasPrefix(line, "event: "):
				m.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case strings.HasPrefix(line, "id: "):
				m.id, _ = strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
			case line == "" && m.event != "":
				m.data = strings.Join(data, "\n")
				select {
				case s.events <- m:
				case <-ctx.Done():
					return
				}
				m, data = sseMessage{}, nil
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		c.t.Fatal("the stream never said it was connected")
	}
	return s
}

// next waits for the next event called name, skipping others.
func (s *sseStream) next(name string) sseMessage {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-s.events:
			if m.event == name {
				return m
			}
		case <-s.ended:
			s.t.Fatalf("stream ended while waiting for %q", name)
		case <-deadline:
			s.t.Fatalf("no %q event within 10 s", name)
		}
	}
}

// nextAll waits until every named event has arrived, in any order.
func (s *sseStream) nextAll(names ...string) {
	s.t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-s.events:
			delete(want, m.event)
		case <-s.ended:
			s.t.Fatalf("stream ended while waiting for %v", want)
		case <-deadline:
			s.t.Fatalf("events %v did not arrive within 10 s", want)
		}
	}
}

func TestEventsStreamHostChanges(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("watcher", server.RoleViewer)
	fleet := b.openEvents("/events")

	// A new host: fleet pages re-read themselves; token lists refresh.
	h := app.enrollHost("web-01")
	fleet.nextAll(sseFleetChanged, sseTokensChanged)

	host := b.openEvents("/events?host=" + h.HostID)

	// The host connects: its row's cells and the summary arrive as HTML
	// fragments. The cells only: the <tr> carrying sse-swap stays in place.
	app.svc.Presence().Connected(h.HostID, 1, "192.0.2.10:4000")
	row := fleet.next(sseHostRow + h.HostID)
	for _, want := range []string{`href="/hosts/` + h.HostID + `"`, ">online<", "web-01"} {
		if !strings.Contains(row.data, want) {
			t.Errorf("row fragment lacks %q:\n%s", want, row.data)
		}
	}
	if strings.Contains(row.data, "<tr") || strings.Contains(row.data, "sse-swap") {
		t.Errorf("row fragment replaces the listening <tr>:\n%s", row.data)
	}
	if sum := fleet.next(sseSummary); !strings.Contains(sum.data, "Online") {
		t.Errorf("summary fragment:\n%s", sum.data)
	}
	if v := host.next(sseVitals); !strings.Contains(v.data, ">online<") || !strings.Contains(v.data, h.HostID) {
		t.Errorf("vitals fragment:\n%s", v.data)
	}

	// It disconnects: the row says offline, in words.
	app.svc.Presence().Disconnected(h.HostID, 1)
	if row := fleet.next(sseHostRow + h.HostID); !strings.Contains(row.data, ">offline<") || !strings.Contains(row.data, "since") {
		t.Errorf("offline row:\n%s", row.data)
	}

	// Closing the web server ends open streams (so shutdown does not hang).
	_ = app.web.Close()
	select {
	case <-fleet.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open after Server.Close")
	}
}

func TestEncodeSSEKeepsFramesIntact(t *testing.T) {
	got := encodeSSE(sseMessage{event: "hosts\nevent: evil", data: "<tr>\r\n<td>a</td>\rdata: x\n</tr>"})
	want := "event: hostsevent: evil\ndata: <tr>\ndata: <td>a</td>\ndata: data: x\ndata: </tr>\n\n"
	if got != want {
		t.Errorf("encodeSSE = %q\nwant %q", got, want)
	}
}

// TestEventsStreamEndsWithSession: a stream re-checks its session, so one
// signed out elsewhere (another tab, an admin) stops receiving fleet updates.
func TestEventsStreamEndsWithSession(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.SessionCheckInterval = 50 * time.Millisecond })
	b, csrf := app.signedIn("wall", server.RoleViewer)
	stream := b.openEvents("/events")
	if res := b.postForm("/logout", url.Values{"csrf_token": {csrf}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	select {
	case <-stream.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its session")
	}
	if res := b.get("/events"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reopening after logout: %d, want 401", res.StatusCode)
	}
}

// TestFleetPageHearsWhatChangedBeforeItsStreamOpened: a change the hub sent
// between a fleet page's reads and its stream's opening (the host's stored
// health word moving, say) makes the page re-read itself at once; a page
// nothing happened to since is not told to.
func TestFleetPageHearsWhatChangedBeforeItsStreamOpened(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("watcher", server.RoleViewer)
	seen := regexp.MustCompile(`sse-connect="/events\?seen=(\d+)"`)
	dashboardSeen := func() string {
		m := seen.FindStringSubmatch(b.get("/").body)
		if m == nil {
			t.Fatal("the dashboard does not open its stream with ?seen=")
		}
		return m[1]
	}
	before := dashboardSeen()
	watcher := b.openEvents("/events")
	h := app.enrollHost("web-01")
	watcher.nextAll(sseFleetChanged, sseTokensChanged) // the hub has sent it

	stale := b.openEvents("/events?seen=" + before)
	stale.nextAll(sseFleetChanged, ssePendingChanged, sseTokensChanged)

	// A page read after that hears only what happens next: the host's row.
	fresh := b.openEvents("/events?seen=" + dashboardSeen())
	app.svc.Presence().Connected(h.HostID, 1, "192.0.2.10:4000")
	select {
	case m := <-fresh.events:
		if m.event != sseHostRow+h.HostID {
			t.Fatalf("a page read after the change was first sent %q; want the host's row", m.event)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}

	if r := b.get("/events?seen=x"); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "reload the page") {
		t.Errorf("GET /events?seen=x = %d:\n%s", r.StatusCode, r.body)
	}
}
