package agent_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

const testToken = "rmt_enroll-token-that-must-stay-secret"

// enrollFixture is a CA, a TLS enrollment endpoint and a place for the config.
type enrollFixture struct {
	ca     *agenttest.CA
	srv    *agenttest.EnrollServer
	answer topics.EnrollResponse
	url    string // the base URL given to Enroll
	path   string
	logs   *bytes.Buffer
}

func newEnrollFixture(t *testing.T) *enrollFixture {
	ca := agenttest.NewCA(t, "restic-manager test CA")
	f := &enrollFixture{ca: ca, path: filepath.Join(t.TempDir(), "etc", "agent.yaml"), logs: &bytes.Buffer{}}
	f.answer = topics.EnrollResponse{ApprovedCredentials: topics.ApprovedCredentials{
		HostID:        topics.RandomID(topics.HostIDPrefix),
		HostName:      "web-1",
		MQTTURL:       "mqtts://127.0.0.1:8883",
		MQTTPassword:  testPassword,
		CACert:        ca.PEM,
		CAFingerprint: ca.Fingerprint(),
	}}
	return f
}

// serve starts the endpoint with tlsCfg; nil means the CA's normal chain
// (leaf for 127.0.0.1, then the CA).
func (f *enrollFixture) serve(t *testing.T, tlsCfg *tls.Config, reply agenttest.Reply) {
	if tlsCfg == nil {
		tlsCfg = f.ca.ServerTLS(t)
	}
	f.srv = agenttest.NewEnrollServer(t, tlsCfg, reply)
	f.url = f.srv.URL
}

func (f *enrollFixture) opts(pin string) agent.EnrollOptions {
	return agent.EnrollOptions{
		ServerURL: f.url, Token: testToken, CAFingerprint: pin, ConfigPath: f.path,
		StateDir: "/var/lib/rm-test", Logger: slog.New(slog.NewTextHandler(f.logs, nil)),
	}
}

// refused checks that Enroll failed with want, wrote nothing and leaked no
// secret; sent says whether the token may have reached the server.
func (f *enrollFixture) refused(t *testing.T, err error, want string, sent bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("enroll succeeded, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if _, statErr := os.Stat(f.path); !os.IsNotExist(statErr) {
		t.Fatalf("config written although enroll failed (%v)", statErr)
	}
	if !sent && len(f.srv.Requests()) != 0 {
		t.Fatalf("the token was sent although the server was not trusted")
	}
	for _, s := range []string{err.Error(), f.logs.String()} {
		if strings.Contains(s, testToken) || strings.Contains(s, testPassword) {
			t.Fatalf("secret leaked: %s", s)
		}
	}
}

func TestEnrollPinnedSuccess(t *testing.T) {
	f := newEnrollFixture(t)
	f.serve(t, nil, agenttest.Accept(f.answer))
	res, err := agent.Enroll(context.Background(), f.opts(f.ca.Fingerprint()))
	if err != nil {
		t.Fatal(err)
	}
	if res.HostName != "web-1" || res.Config.HostID != f.answer.HostID {
		t.Fatalf("result %+v", res)
	}
	cfg, err := agent.LoadConfig(f.path)
	if err != nil {
		t.Fatalf("written config does not load: %v", err)
	}
	if cfg.HostID != f.answer.HostID || cfg.MQTTURL != f.answer.MQTTURL || cfg.MQTTPassword != testPassword ||
		cfg.CACert != f.ca.PEM || cfg.CAFingerprint != f.ca.Fingerprint() || cfg.StateDir != "/var/lib/rm-test" ||
		cfg.ServerURL != f.srv.URL || cfg.ResticBinary != "restic" {
		t.Fatalf("config does not hold the server's answer: %s", cfg)
	}
	if fi, _ := os.Stat(f.path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v, want 0600", fi.Mode().Perm())
	}
	reqs := f.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	host, _ := os.Hostname()
	if r.Token != testToken || r.OS != runtime.GOOS || r.Arch != runtime.GOARCH || r.Hostname != host || r.AgentVersion != agent.Version {
		t.Fatalf("request %+v", r)
	}
	if strings.Contains(f.logs.String(), testToken) {
		t.Fatal("token logged")
	}
}

func TestEnrollWithoutPinUsesSystemRoots(t *testing.T) {
	f := newEnrollFixture(t)
	f.serve(t, nil, agenttest.Accept(f.answer))
	// The test CA is in no system root store, so an unpinned enrollment
	// must not trust it.
	_, err := agent.Enroll(context.Background(), f.opts(""))
	f.refused(t, err, "cannot reach", false)
}

func TestEnrollRefusesUntrustedServer(t *testing.T) {
	other := agenttest.NewCA(t, "attacker CA")
	cases := map[string]struct {
		tls  func(f *enrollFixture) *tls.Config
		pin  func(f *enrollFixture) string
		want string
	}{
		"wrong pin": {
			pin:  func(*enrollFixture) string { return other.Fingerprint() },
			want: "refusing to send the token",
		},
		"server signed by another CA": {
			tls:  func(*enrollFixture) *tls.Config { return other.ServerTLS(t) },
			want: "none of the 2 certificate(s)",
		},
		"CA missing from the presented chain": {
			tls: func(f *enrollFixture) *tls.Config {
				return &tls.Config{Certificates: []tls.Certificate{f.ca.ServerCert(t, false, "127.0.0.1")}}
			},
			want: "pinned fingerprint",
		},
		"right CA but certificate for another host": {
			// The pin replaces the roots, not the host name check.
			tls: func(f *enrollFixture) *tls.Config {
				return &tls.Config{Certificates: []tls.Certificate{f.ca.ServerCert(t, true, "backup.example.com")}}
			},
			want: "not for this address",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newEnrollFixture(t)
			var cfg *tls.Config
			if tc.tls != nil {
				cfg = tc.tls(f)
			}
			f.serve(t, cfg, agenttest.Accept(f.answer))
			pin := f.ca.Fingerprint()
			if tc.pin != nil {
				pin = tc.pin(f)
			}
			_, err := agent.Enroll(context.Background(), f.opts(pin))
			f.refused(t, err, tc.want, false)
		})
	}
}

func TestEnrollRefusesUnpinnedCAInAnswer(t *testing.T) {
	other := agenttest.NewCA(t, "attacker CA")
	cases := map[string]struct {
		mutate func(a *topics.EnrollResponse)
		want   string
	}{
		"CA not the pinned one":         {func(a *topics.EnrollResponse) { a.CACert, a.CAFingerprint = other.PEM, other.Fingerprint() }, "not the pinned one"},
		"fingerprint disagrees with CA": {func(a *topics.EnrollResponse) { a.CAFingerprint = other.Fingerprint() }, "does not match its ca_cert"},
		"no CA":                         {func(a *topics.EnrollResponse) { a.CACert, a.CAFingerprint = "", "" }, "no ca_cert"},
		"CA not PEM":                    {func(a *topics.EnrollResponse) { a.CACert = "garbage" }, "ca_cert is unusable"},
		"bad host id":                   {func(a *topics.EnrollResponse) { a.HostID = "h_NOPE/#" }, "host_id"},
		"no password":                   {func(a *topics.EnrollResponse) { a.MQTTPassword = "" }, "mqtt_password"},
		"bad mqtt url":                  {func(a *topics.EnrollResponse) { a.MQTTURL = "http://x" }, "mqtt_url"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newEnrollFixture(t)
			a := f.answer
			tc.mutate(&a)
			f.serve(t, nil, agenttest.Accept(a))
			_, err := agent.Enroll(context.Background(), f.opts(f.ca.Fingerprint()))
			f.refused(t, err, tc.want, true)
		})
	}
}

func TestEnrollServerErrors(t *testing.T) {
	raw := func(status int, body string) agenttest.Reply {
		return func(topics.EnrollRequest) (int, []byte) { return status, []byte(body) }
	}
	cases := map[string]struct {
		reply agenttest.Reply
		want  string
	}{
		"token used":    {agenttest.Answer(401, "invalid_token", "token already used"), "enroll: the server refused the token: token already used"},
		"token expired": {agenttest.Answer(410, "invalid_token", "token expired"), "refused the token: token expired"},
		"rate limited":  {agenttest.Answer(429, "rate_limited", "too many attempts"), "limiting enrollment attempts: too many attempts"},
		"bad request":   {agenttest.Answer(400, "bad_request", "hostname missing"), "rejected the request (HTTP 400): hostname missing"},
		"server broken": {agenttest.Answer(500, "internal", "database is locked"), "failed (HTTP 500): database is locked"},
		"escape codes":  {agenttest.Answer(403, "x", "bad\x1b[2Jtoken"), "refused the token: bad?[2Jtoken"},
		"html 404":      {raw(404, "<html>not found</html>"), "no enrollment endpoint"},
		"html 502":      {raw(502, "<html>bad gateway</html>"), "failed (HTTP 502): bad gateway"},
		"not json":      {raw(200, "<html>welcome</html>"), "not the expected JSON"},
		"trailing data": {raw(200, `{"host_id":"h_abc"} {}`), "data after the JSON"},
		"oversized":     {raw(200, `{"host_name":"`+strings.Repeat("x", 100<<10)+`"}`), "larger than"},
		"empty object":  {raw(200, `{}`), "no host_id"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newEnrollFixture(t)
			f.serve(t, nil, tc.reply)
			_, err := agent.Enroll(context.Background(), f.opts(f.ca.Fingerprint()))
			f.refused(t, err, tc.want, true)
		})
	}
}

func TestEnrollChecksOptionsBeforeSending(t *testing.T) {
	cases := map[string]struct {
		mutate func(o *agent.EnrollOptions)
		want   string
	}{
		"no server":          {func(o *agent.EnrollOptions) { o.ServerURL = "" }, "--server is required"},
		"plain http":         {func(o *agent.EnrollOptions) { o.ServerURL = "http://backup.example.com" }, "clear text"},
		"not a url":          {func(o *agent.EnrollOptions) { o.ServerURL = "backup.example.com" }, "not an http(s) URL"},
		"no token":           {func(o *agent.EnrollOptions) { o.Token = "" }, "RM_ENROLL_TOKEN"},
		"token with spaces":  {func(o *agent.EnrollOptions) { o.Token = "abc def" }, "spaces"},
		"malformed pin":      {func(o *agent.EnrollOptions) { o.CAFingerprint = "SHA256:abc" }, "43 base64"},
		"pin without prefix": {func(o *agent.EnrollOptions) { o.CAFingerprint = "abc" }, "must start with SHA256:"},
		"no config path":     {func(o *agent.EnrollOptions) { o.ConfigPath = "" }, "--config is required"},
		"credentials in url": {func(o *agent.EnrollOptions) {
			o.ServerURL = strings.Replace(o.ServerURL, "https://", "https://u:p@", 1)
		}, "base URL only"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newEnrollFixture(t)
			f.serve(t, nil, agenttest.Accept(f.answer))
			o := f.opts(f.ca.Fingerprint())
			tc.mutate(&o)
			_, err := agent.Enroll(context.Background(), o)
			f.refused(t, err, tc.want, false)
		})
	}
}

func TestEnrollKeepsExistingConfig(t *testing.T) {
	f := newEnrollFixture(t)
	f.serve(t, nil, agenttest.Accept(f.answer))
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.path, []byte("old identity"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := agent.Enroll(context.Background(), f.opts(f.ca.Fingerprint()))
	if err == nil || !strings.Contains(err.Error(), "--force") || len(f.srv.Requests()) != 0 {
		t.Fatalf("existing config: err %v, %d requests", err, len(f.srv.Requests()))
	}
	o := f.opts(f.ca.Fingerprint())
	o.Force = true
	if _, err := agent.Enroll(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if cfg, err := agent.LoadConfig(f.path); err != nil || cfg.HostID != f.answer.HostID {
		t.Fatalf("forced enroll did not replace the config: %v", err)
	}
}

func TestEnrollPlainHTTPOnLoopbackStillChecksCA(t *testing.T) {
	f := newEnrollFixture(t)
	other := agenttest.NewCA(t, "other")
	a := f.answer
	a.CACert, a.CAFingerprint = other.PEM, other.Fingerprint()
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		_, body := agenttest.Accept(a)(topics.EnrollRequest{})
		w.Write(body)
	}))
	defer srv.Close()
	f.url = srv.URL
	_, err := agent.Enroll(context.Background(), f.opts(f.ca.Fingerprint()))
	f.refused(t, err, "not the pinned one", true)
	if got.Load() != 1 {
		t.Fatalf("%d requests to the loopback server", got.Load())
	}
}
