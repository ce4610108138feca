package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// browserFrom is a browser whose connections come from localIP (a loopback
// address such as 127.0.0.2), so the server sees another client address.
func (a *testApp) browserFrom(localIP string) *client {
	b := a.browser()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	b.http.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

// loginBurst posts n wrong sign-ins at once, the i-th for name(i), through
// one browser's form token and returns the responses.
func loginBurst(t testing.TB, app *testApp, n int, name func(int) string) []response {
	b := app.browser()
	token := csrfFrom(t, b.get("/login").body)
	start := make(chan struct{})
	out := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			form := url.Values{"csrf_token": {token}, "name": {name(i)}, "password": {"wrong password!"}}.Encode()
			<-start
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, app.srv.URL+"/login", strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := b.http.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			out[i] = response{res, string(body)}
		})
	}
	close(start)
	wg.Wait()
	return out
}

// The attack run: 40 concurrent wrong sign-ins from one address, no 429 at
// all. Now all but the few the throttle lets through are refused at once,
// each saying how long to wait.
func TestLoginBurstFromOneAddressIsRefused(t *testing.T) {
	// The fixtures' cheap hash: this test is about the answers the web
	// layer gives (statuses, Retry-After, the sentence). That attempts are
	// counted before the real 64 MiB hash and how many hashes run at once
	// are the domain's, tested at the production cost by
	// server.TestLoginBurstIsCountedBeforeHashing.
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "admin", server.RoleAdmin)
	counts := map[int]int{}
	for _, r := range loginBurst(t, app, 40, func(int) string { return "admin" }) {
		if r.Response == nil {
			continue
		}
		counts[r.StatusCode]++
		if r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusServiceUnavailable {
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 || !strings.Contains(r.body, "wait ") &&
				!strings.Contains(r.body, "try again in a few seconds") {
				t.Errorf("%d with Retry-After %q does not say how long to wait:\n%s", r.StatusCode, r.Header.Get("Retry-After"), r.body)
			}
		}
	}
	// At most 5 passwords are checked (the per-name limit); a "busy, retry"
	// (503) gives its attempt back, so a few may stand in for 429s.
	if counts[http.StatusTooManyRequests] < 20 || counts[http.StatusUnauthorized] > 5 ||
		counts[http.StatusTooManyRequests]+counts[http.StatusUnauthorized]+counts[http.StatusServiceUnavailable] != 40 {
		t.Errorf("statuses %v: want mostly 429s, at most 5 wrong-password answers, the rest 503", counts)
	}
}

// Five wrong passwords from one address lock that address out of the name,
// not the name out of the world: another address signs in at once.
func TestLoginLockedFromOneAddressNotAnother(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "admin", server.RoleAdmin)
	a := app.browser()
	token := csrfFrom(t, a.get("/login").body)
	try := func(password string) response {
		return a.postForm("/login", url.Values{"csrf_token": {token}, "name": {"admin"}, "password": {password}})
	}
	for i := range 5 {
		if res := try("wrong password!"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, res.StatusCode)
		}
	}
	// The window runs from the first failure: what is left of 15 minutes.
	res := try(servertest.Password)
	if left, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusTooManyRequests ||
		left <= 14*60 || left > 15*60 || !strings.Contains(res.body, "wait 15 minutes") {
		t.Fatalf("right password from the locked address: %d, Retry-After %q, want 429 saying to wait 15 minutes\n%s",
			res.StatusCode, res.Header.Get("Retry-After"), res.body)
	}
	b := app.browserFrom("127.0.0.2")
	page := b.get("/login")
	res = b.postForm("/login", url.Values{"csrf_token": {csrfFrom(t, page.body)}, "name": {"admin"}, "password": {servertest.Password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password from 127.0.0.2 while 127.0.0.1 is locked: status %d, want 303\n%s", res.StatusCode, res.body)
	}
}
