package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// testApp is the whole web application on a real HTTP listener, backed by
// a real Service on a real SQLite file in a temp dir.
type testApp struct {
	t   testing.TB
	svc *server.Service
	web *Server
	srv *httptest.Server
	pub *servertest.Publisher // stands in for the broker
	// announced counts machines announce made, for unique addresses.
	announced int
	// runOnce starts the Service's background work (runService).
	runOnce sync.Once
}

const testFingerprint = "SHA256:0f4c6c2b1e5d8f9a7b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"

func newTestApp(t testing.TB, tweak ...func(*Config)) *testApp {
	t.Helper()
	return newTestAppWith(t, server.Options{}, tweak...)
}

// newTestAppWith is newTestApp on a Service opened with opts (servertest
// picks the cheap test password hash unless opts names a cost).
func newTestAppWith(t testing.TB, opts server.Options, tweak ...func(*Config)) *testApp {
	t.Helper()
	svc := servertest.MustOpenService(t, opts)
	pub := &servertest.Publisher{}
	svc.SetPublisher(pub)
	cfg := Config{
		PublicURL:     "https://rm.example.test:8443",
		MQTTURL:       func(*http.Request) string { return "mqtts://rm.example.test:8883" },
		CACertPEM:     []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		CAFingerprint: testFingerprint,
		Version:       "test",
	}
	for _, f := range tweak {
		f(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	w, err := New(cfg, svc, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(func() {
		_ = w.Close()
		srv.Close()
	})
	return &testApp{t: t, svc: svc, web: w, srv: srv, pub: pub}
}

// client is one browser (its own cookie jar) or one API caller. It never
// follows redirects, so tests see them.
type client struct {
	t      testing.TB
	app    *testApp
	http   *http.Client
	bearer string
}

func (a *testApp) browser() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: a.t, app: a, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// apiClient calls the API as a new token of user.
func (a *testApp) apiClient(user string) *client {
	a.t.Helper()
	token, err := a.svc.CreateAPIToken(a.t.Context(), server.CLIActor(), user, "test")
	if err != nil {
		a.t.Fatal(err)
	}
	c := a.browser()
	c.http.Jar = nil
	c.bearer = token
	return c
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body string
}

func (c *client) do(method, path string, body io.Reader, header http.Header) response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.app.srv.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{res, string(b)}
}

func (c *client) get(path string) response { return c.do(http.MethodGet, path, nil, nil) }

func (c *client) postForm(path string, form url.Values) response {
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

func (c *client) postJSON(path, body string) response {
	return c.do(http.MethodPost, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrfFrom finds the CSRF token in a page.
func csrfFrom(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

// login signs the browser in through the real form and returns the
// session's CSRF token.
func (c *client) login(name, password string) string {
	c.t.Helper()
	page := c.get("/login")
	res := c.postForm("/login", url.Values{"csrf_token": {csrfFrom(c.t, page.body)}, "name": {name}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("login %s: status %d\n%s", name, res.StatusCode, res.body)
	}
	home := c.get("/")
	if home.StatusCode != http.StatusOK {
		c.t.Fatalf("after login: GET / = %d", home.StatusCode)
	}
	return csrfFrom(c.t, home.body)
}

// signedIn returns a browser signed in as a new user with role.
func (a *testApp) signedIn(name string, role server.Role) (*client, string) {
	a.t.Helper()
	servertest.MustCreateUser(a.t, a.svc, name, role)
	b := a.browser()
	return b, b.login(name, servertest.Password)
}

// apiError decodes a JSON error body, failing the test if it is not one.
func apiErrorOf(t testing.TB, r response) apiErrorBody {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error is %q, not JSON: %s", ct, r.body)
	}
	var e apiErrorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == "" || e.Message == "" {
		t.Fatalf("not a {error, message} body (%v): %s", err, r.body)
	}
	return e
}

// auditCount is how many audit rows exist: counted by SQLite, not read
// (the role matrix counts before and after each of its hundreds of calls,
// and ListAudit stops at 1000 rows).
func (a *testApp) auditCount() int {
	a.t.Helper()
	var n int
	if err := a.svc.DB().GetContext(context.Background(), &n, `SELECT COUNT(*) FROM audit_log`); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// lastAudit is the newest audit row.
func (a *testApp) lastAudit() server.AuditEntry {
	a.t.Helper()
	entries, err := a.svc.ListAudit(context.Background(), server.AuditFilter{Limit: 1})
	if err != nil || len(entries) == 0 {
		a.t.Fatalf("no audit rows (%v)", err)
	}
	return entries[0]
}

// enrollHost creates a token and enrolls a host with it through the domain.
func (a *testApp) enrollHost(name string) *server.EnrollResult {
	a.t.Helper()
	token, _, err := a.svc.CreateEnrollmentToken(a.t.Context(), server.CLIActor(), name, 0)
	if err != nil {
		a.t.Fatal(err)
	}
	res, err := a.svc.Enroll(a.t.Context(), server.EnrollRequest{Token: token, Hostname: name + ".lan", OS: "linux", Arch: "amd64",
		AgentVersion: "0.1.0", ResticVersion: "0.18.0", RemoteAddr: "192.0.2.10"})
	if err != nil {
		a.t.Fatal(err)
	}
	return res
}

// announce makes a machine called hostname announce itself, each from its
// own address (so the per-address limit never interferes), and returns it
// with the ID of its pending row.
func (a *testApp) announce(hostname string) (*servertest.PendingAgent, int64) {
	a.t.Helper()
	a.announced++
	agent := servertest.NewPendingAgent(a.t, hostname)
	addr := fmt.Sprintf("198.51.%d.%d:40000", a.announced/250, a.announced%250+1)
	if st := agent.Announce(a.t, a.svc, a.pub, uint64(a.announced), addr); st == nil || st.State != "pending" {
		a.t.Fatalf("announce %s: %+v", hostname, st)
	}
	list, err := a.svc.ListPendingHosts(a.t.Context())
	if err != nil {
		a.t.Fatal(err)
	}
	for _, p := range list {
		if p.ClientID == agent.Client {
			return agent, p.ID
		}
	}
	a.t.Fatalf("announced machine %s is not listed", hostname)
	return nil, 0
}
