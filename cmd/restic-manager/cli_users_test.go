package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// webUser is a browser signed in to a running server.
type webUser struct {
	t    *testing.T
	base string
	http *http.Client
}

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func signInHTTP(t *testing.T, base, name, password string) *webUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	w := &webUser{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	// A password check waits at most 5 s for one of the process's few
	// hashing slots and then answers 503 with Retry-After, as it does for
	// any client; the package's parallel tests share the slots (one server
	// process), so the sign-in tries again as a browser's user would.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := w.get("/login")
		m := csrfFieldRE.FindStringSubmatch(body)
		if code != 200 || m == nil {
			t.Fatalf("sign-in page: %d", code)
		}
		res, err := w.http.PostForm(base+"/login", url.Values{"csrf_token": {m[1]}, "name": {name}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline) {
			wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(1, min(wait, 5))) * time.Second)
			continue
		}
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Fatalf("sign in as %s: %d %s", name, res.StatusCode, res.Header.Get("Location"))
		}
		return w
	}
}

func (w *webUser) get(path string) (int, string) {
	w.t.Helper()
	res, err := w.http.Get(w.base + path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// openStream opens /events and returns a channel closed when it ends.
func (w *webUser) openStream() <-chan struct{} {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/events", nil)
	res, err := w.http.Do(req)
	if err != nil || res.StatusCode != 200 {
		w.t.Fatalf("open /events: %v", err)
	}
	ended := make(chan struct{})
	connected := make(chan struct{})
	go func() {
		defer close(ended)
		defer res.Body.Close()
		r := bufio.NewReader(res.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == ": connected\n" {
				close(connected)
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		w.t.Fatal("the stream never said it was connected")
	}
	return ended
}

// cliFails runs a subcommand that must fail and returns its error text.
func cliFails(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
	if err == nil {
		t.Fatalf("restic-manager %s succeeded, want a refusal", strings.Join(args, " "))
	}
	return err.Error()
}

// TestCLIUserLifecycleWhileServing: every user and apitoken subcommand runs
// against the data directory of a running server, and the server honours
// each at once: a disabled user's session, event stream and API token stop;
// a demoted user's next page shows the new role; a new password works and
// the old one does not; a revoked token stops; the last admin is protected.
func TestCLIUserLifecycleWhileServing(t *testing.T) {
	t.Parallel()
	data := t.TempDir() + "/data"
	m := startServer(t, data, "127.0.0.1:0")
	base := m.HTTPURL()
	d := []string{"--data", data}
	with := func(args ...string) []string { return append(args, d...) }

	cli(t, "an operator password\n", with("user", "add", "alice", "--role", "operator")...)
	alice := signInHTTP(t, base, "alice", "an operator password")
	tok := cli(t, "", with("apitoken", "create", "--user", "alice", "--label", "ci")...)
	api := apiClient{t: t, base: base, token: tok}
	if code := api.do("GET", "/api/v1/hosts", nil, nil); code != 200 {
		t.Fatalf("token: %d", code)
	}

	// user list: one user a line.
	list := cli(t, "", with("user", "list")...)
	if !regexp.MustCompile(`(?m)^alice\toperator\tenabled\t-\t\d{4}-`).MatchString(list) || !strings.Contains(list, "admin\tadmin\tenabled") {
		t.Fatalf("user list:\n%s", list)
	}
	// apitoken list: id first, then label, owner, created, last used.
	toks := cli(t, "", with("apitoken", "list")...)
	line := regexp.MustCompile(`(?m)^(\d+)\tci\talice\t(\S+)\t(\S+)$`).FindStringSubmatch(toks)
	if line == nil || strings.Contains(toks, tok) || line[3] == "never" {
		t.Fatalf("apitoken list (want the use recorded, never the token):\n%s", toks)
	}
	if _, err := time.Parse(time.RFC3339, line[2]); err != nil {
		t.Fatalf("created %q: %v", line[2], err)
	}

	// role: the next request sees it.
	cli(t, "", with("user", "role", "alice", "viewer")...)
	if _, body := alice.get("/"); !strings.Contains(body, `title="Your role">viewer`) {
		t.Fatal("the demoted user's next page does not show the new role")
	}

	// disable: the live session, the open stream and the token stop.
	stream := alice.openStream()
	cli(t, "", with("user", "disable", "alice")...)
	if code, _ := alice.get("/"); code != http.StatusSeeOther {
		t.Fatalf("disabled user's session: %d", code)
	}
	select {
	case <-stream:
	case <-time.After(15 * time.Second):
		t.Fatal("the disabled user's event stream stayed open")
	}
	if code := api.do("GET", "/api/v1/hosts", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("disabled user's token: %d", code)
	}
	if list := cli(t, "", with("user", "list")...); !strings.Contains(list, "alice\tviewer\tdisabled") {
		t.Fatalf("user list after disable:\n%s", list)
	}
	cli(t, "", with("user", "enable", "alice")...)
	if code := api.do("GET", "/api/v1/hosts", nil, nil); code != 200 {
		t.Fatalf("re-enabled user's token: %d", code)
	}

	// passwd: too short is refused; a new one works, the old one not.
	if msg := cliFails(t, "short\n", with("user", "passwd", "alice")...); !strings.Contains(msg, "at least 12 characters") {
		t.Fatalf("short password: %s", msg)
	}
	cli(t, "a brand new password\n", with("user", "passwd", "alice")...)
	signInHTTP(t, base, "alice", "a brand new password")
	if _, err := m.Service().Login(t.Context(), "alice", "an operator password", "127.0.0.9"); err == nil {
		t.Fatal("the old password still works")
	}

	// revoke: the token stops.
	cli(t, "", with("apitoken", "revoke", line[1])...)
	if code := api.do("GET", "/api/v1/hosts", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", code)
	}
	if toks := cli(t, "", with("apitoken", "list")...); strings.Contains(toks, "\tci\t") {
		t.Fatalf("revoked token still listed:\n%s", toks)
	}

	// Guard rails and clear refusals.
	if msg := cliFails(t, "", with("user", "disable", "admin")...); !strings.Contains(msg, "last enabled admin") {
		t.Fatalf("disabling the last admin: %s", msg)
	}
	if msg := cliFails(t, "", with("user", "role", "admin", "viewer")...); !strings.Contains(msg, "last enabled admin") {
		t.Fatalf("demoting the last admin: %s", msg)
	}
	if msg := cliFails(t, "", with("user", "disable", "nobody")...); !strings.Contains(msg, `no user named "nobody"`) {
		t.Fatalf("unknown user: %s", msg)
	}
	if msg := cliFails(t, "", with("apitoken", "revoke", "x1")...); !strings.Contains(msg, "not a token ID") {
		t.Fatalf("bad token id: %s", msg)
	}

	// delete: gone, name free, the audit log keeps the history.
	cli(t, "", with("user", "delete", "alice")...)
	if list := cli(t, "", with("user", "list")...); strings.Contains(list, "alice") {
		t.Fatalf("deleted user listed:\n%s", list)
	}
	rows, err := m.Service().ListAudit(t.Context(), server.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if r.Target == "alice" && r.Actor == "cli" {
			seen[r.Action] = true
		}
	}
	for _, a := range []string{"user.create", "apitoken.create", "user.role", "user.disable", "user.enable", "user.password_reset", "apitoken.revoke", "user.delete"} {
		if !seen[a] {
			t.Errorf("no %s audit row for alice after the delete (have %v)", a, seen)
		}
	}
}
