package web

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// serveHardened serves app the way the real server does: the http.Server
// from HTTPServer behind LimitConns, on 127.0.0.1.
func serveHardened(t *testing.T, app *testApp, perAddr, total int) {
	t.Helper()
	app.srv.Close()
	ts := httptest.NewUnstartedServer(app.web)
	ts.Config = app.web.HTTPServer(nil)
	ts.Listener = LimitConns(ts.Listener, perAddr, total, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts.Start()
	t.Cleanup(ts.Close)
	app.srv = ts
}

// rawConn opens a TCP connection to the app from localIP.
func rawConn(t *testing.T, app *testApp, localIP string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", app.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntilClosed reads what the server sends until it closes the
// connection, and reports whether it did so within `within`.
func readUntilClosed(c net.Conn, within time.Duration) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(within))
	data, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(data), false
	}
	return string(data), true // EOF or reset: closed by the server
}

// served sends GET /healthz on c and reports whether an answer came back.
func served(c net.Conn) bool {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: rm.test\r\n\r\n"); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 12)
	n, _ := io.ReadFull(c, buf)
	return n == len(buf) && strings.HasPrefix(string(buf), "HTTP/1.1 ")
}

// The requests that held 1,500 connections open for 50+ s in the attack
// run: headers complete, then the body a byte at a time (here: never).
const (
	slowLogin = "POST /login HTTP/1.1\r\nHost: rm.test\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"Content-Length: 4096\r\nCookie: rm_signin=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\ncsrf_token=a"
	slowEnroll = "POST /api/v1/agents/enroll HTTP/1.1\r\nHost: rm.test\r\nContent-Type: application/json\r\n" +
		"Content-Length: 4096\r\n\r\n{\"token\":\"rme_"
)

// Slow bodies are cut: sign-in and enrollment bodies after
// AnonymousBodyTimeout with a 408, any other body after ReadTimeout; an
// oversized sign-in body is refused before it is read.
func TestSlowBodyPostsAreCut(t *testing.T) {
	app := newTestApp(t, func(c *Config) {
		c.AnonymousBodyTimeout = 300 * time.Millisecond
		c.ReadTimeout = time.Second
	})
	servertest.MustCreateUser(t, app.svc, "alice", server.RoleAdmin)
	token := app.apiClient("alice").bearer
	serveHardened(t, app, 0, 0)

	for _, tc := range []struct{ name, req, want string }{
		{"sign-in", slowLogin, "HTTP/1.1 408"},
		{"enroll", slowEnroll, "HTTP/1.1 408"},
		{"signed-in API call", "PUT /api/v1/hosts/h_x/repository HTTP/1.1\r\nHost: rm.test\r\nAuthorization: Bearer " + token +
			"\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"url\":\"/srv/", ""},
		{"oversized sign-in", "POST /login HTTP/1.1\r\nHost: rm.test\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: 100000\r\n\r\ncsrf_token=a", "HTTP/1.1 413"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, app, "127.0.0.1")
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			got, closed := readUntilClosed(c, 20*time.Second)
			if !closed {
				t.Fatalf("connection still open 20 s after a stalled body; got %q", got)
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("answer %q, want %q", firstLine(got), tc.want)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// One address may hold perAddr connections; more are closed at once while
// other addresses are still served, up to the server-wide total.
func TestConnectionsPerAddressAreCapped(t *testing.T) {
	app := newTestApp(t)
	serveHardened(t, app, 3, 5)
	var mine []net.Conn
	for i := range 3 {
		c := rawConn(t, app, "127.0.0.1")
		if !served(c) {
			t.Fatalf("connection %d from 127.0.0.1 was not served", i+1)
		}
		mine = append(mine, c)
	}
	over := rawConn(t, app, "127.0.0.1")
	if got, closed := readUntilClosed(over, 10*time.Second); !closed || got != "" {
		t.Fatalf("a 4th connection from 127.0.0.1 was kept open (closed %v, got %q)", closed, got)
	}
	for i := range 2 {
		if c := rawConn(t, app, "127.0.0.2"); !served(c) {
			t.Fatalf("connection %d from 127.0.0.2 was not served while 127.0.0.1 is at its limit", i+1)
		}
	}
	if got, closed := readUntilClosed(rawConn(t, app, "127.0.0.3"), 10*time.Second); !closed || got != "" {
		t.Fatalf("a 6th connection overall was kept open (closed %v, got %q)", closed, got)
	}
	// A closed connection gives its place back.
	mine[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for !served(rawConn(t, app, "127.0.0.1")) {
		if time.Now().After(deadline) {
			t.Fatal("127.0.0.1 not served again after closing one of its connections")
		}
	}
}

// An event stream lives past the server's read deadline (net/http lifts it
// once a request's body is read, so the stream's context is not cancelled)
// and past the sign-in body deadline.
func TestEventStreamOutlivesReadDeadline(t *testing.T) {
	app := newTestApp(t, func(c *Config) {
		c.ReadTimeout = 300 * time.Millisecond
		c.AnonymousBodyTimeout = 400 * time.Millisecond
	})
	serveHardened(t, app, 0, 0)
	b, _ := app.signedIn("watcher", server.RoleViewer)
	fleet := b.openEvents("/events")
	// A stalled sign-in opened now is cut after AnonymousBodyTimeout: once
	// it is, the stream is older than ReadTimeout.
	clock := rawConn(t, app, "127.0.0.1")
	if _, err := io.WriteString(clock, slowLogin); err != nil {
		t.Fatal(err)
	}
	if _, closed := readUntilClosed(clock, 20*time.Second); !closed {
		t.Fatal("the stalled sign-in was not cut")
	}
	app.enrollHost("web-01")
	fleet.nextAll(sseFleetChanged)
}
