package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

func TestAPIHosts(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleViewer)
	api := app.apiClient("ci")

	res := api.get("/api/v1/hosts")
	if res.StatusCode != http.StatusOK || strings.TrimSpace(res.body) != `{"hosts":[],"next_cursor":null}` {
		t.Fatalf("empty fleet: %d %s", res.StatusCode, res.body)
	}

	enrolled := app.enrollHost("web-01")
	app.svc.Presence().Connected(enrolled.HostID, 1, "192.0.2.10:51000")

	var list struct{ Hosts []server.Host }
	res = api.get("/api/v1/hosts")
	if err := json.Unmarshal([]byte(res.body), &list); err != nil || len(list.Hosts) != 1 {
		t.Fatalf("list: %v %s", err, res.body)
	}
	h := list.Hosts[0]
	if h.ID != enrolled.HostID || h.Name != "web-01" || !h.Online || h.LastSeen == nil || h.OS != "linux" ||
		h.Arch != "amd64" || h.AgentVersion != "0.1.0" || h.ResticVersion != "0.18.0" || h.Hostname != "web-01.lan" || h.CreatedAt.IsZero() {
		t.Errorf("host = %+v", h)
	}

	res = api.get("/api/v1/hosts/" + enrolled.HostID)
	var one map[string]any
	if err := json.Unmarshal([]byte(res.body), &one); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("get host: %d %s", res.StatusCode, res.body)
	}
	for _, field := range []string{"id", "name", "online", "last_seen", "os", "arch", "agent_version", "restic_version", "hostname", "created_at"} {
		if _, ok := one[field]; !ok {
			t.Errorf("GET /api/v1/hosts/{id} lacks %q: %s", field, res.body)
		}
	}

	res = api.get("/api/v1/hosts/h_nope")
	if res.StatusCode != http.StatusNotFound || apiErrorOf(t, res).Error != server.CodeNotFound {
		t.Errorf("unknown host: %d %s", res.StatusCode, res.body)
	}
}

func TestAPIAuthErrorsAreJSON(t *testing.T) {
	app := newTestApp(t)
	c := app.browser()
	for name, header := range map[string]string{
		"no header":    "",
		"wrong scheme": "Basic YWRtaW46YWRtaW4=",
		"empty bearer": "Bearer ",
		"unknown":      "Bearer rmt_not-a-real-token",
	} {
		h := http.Header{}
		if header != "" {
			h.Set("Authorization", header)
		}
		res := c.do(http.MethodGet, "/api/v1/hosts", nil, h)
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d (WWW-Authenticate %q)", name, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
		if e := apiErrorOf(t, res); e.Error != server.CodeUnauthorized {
			t.Errorf("%s: error %q", name, e.Error)
		}
	}
	res := c.get("/api/v1/nothing-here")
	if res.StatusCode != http.StatusNotFound || apiErrorOf(t, res).Error != server.CodeNotFound {
		t.Errorf("unknown API path: %d %s", res.StatusCode, res.body)
	}
	res = c.do(http.MethodDelete, "/api/v1/hosts", nil, nil)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/v1/hosts: %d", res.StatusCode)
	}
	apiErrorOf(t, res)
}

func TestAPICreateEnrollmentToken(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")

	for body, want := range map[string]int{
		``:                                    http.StatusBadRequest,
		`not json`:                            http.StatusBadRequest,
		`{"host_name":"a"} {"x":1}`:           http.StatusBadRequest,
		`{"host_name":""}`:                    http.StatusBadRequest,
		`{"host_name":7}`:                     http.StatusBadRequest,
		`{"host_name":"bad name!"}`:           http.StatusBadRequest,
		`{"host_name":"web-01","ttl":"1x"}`:   http.StatusBadRequest,
		`{"host_name":"web-01","ttl":"30d"}`:  http.StatusBadRequest,
		`{"host_name":"web-01","ttl":"720h"}`: http.StatusBadRequest, // over the 7-day maximum
		`{"host_name":"web-01","ttl":-5}`:     http.StatusBadRequest,
	} {
		res := api.postJSON("/api/v1/enrollment-tokens", body)
		if res.StatusCode != want {
			t.Errorf("%s: status %d, want %d: %s", body, res.StatusCode, want, res.body)
			continue
		}
		if e := apiErrorOf(t, res); e.Error != server.CodeInvalid || !strings.HasSuffix(e.Message, ".") {
			t.Errorf("%s: error %+v", body, e)
		}
	}
	if tokens, _ := app.svc.ListEnrollmentTokens(t.Context()); len(tokens) != 0 {
		t.Fatalf("invalid requests created tokens: %+v", tokens)
	}

	res := api.postJSON("/api/v1/enrollment-tokens", `{"host_name":"web-01","ttl":"2h","unknown_field":true}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	var got enrollmentTokenResponse
	if err := json.Unmarshal([]byte(res.body), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Token, "rme_") || got.HostName != "web-01" {
		t.Errorf("response = %+v", got)
	}
	if d := time.Until(got.ExpiresAt); d < 119*time.Minute || d > 121*time.Minute {
		t.Errorf("expires_at %s is not 2 h away", got.ExpiresAt)
	}
	for _, cmd := range []string{got.InstallCommand, got.EnrollCommand, got.EnrollCommandWindows} {
		for _, part := range []string{got.Token, "--ca-fingerprint " + testFingerprint, "--server https://rm.example.test:8443"} {
			if !strings.Contains(cmd, part) {
				t.Errorf("command %q lacks %q", cmd, part)
			}
		}
	}
	if e := app.lastAudit(); e.Action != "enrollment_token.create" || e.Actor != "ci" || e.Via != "api" || strings.Contains(e.Details, got.Token) {
		t.Errorf("audit row = %+v", e)
	}

	// Seconds work too, and a taken host name is a conflict.
	if res := api.postJSON("/api/v1/enrollment-tokens", `{"host_name":"web-02","ttl":600}`); res.StatusCode != http.StatusCreated {
		t.Errorf("ttl in seconds: %d %s", res.StatusCode, res.body)
	}
	app.enrollHost("taken")
	res = api.postJSON("/api/v1/enrollment-tokens", `{"host_name":"taken"}`)
	if res.StatusCode != http.StatusConflict || apiErrorOf(t, res).Error != server.CodeConflict {
		t.Errorf("taken name: %d %s", res.StatusCode, res.body)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	app := newTestApp(t)
	c := app.browser()
	res := c.get("/healthz")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"status":"ok"`) {
		t.Errorf("healthz: %d %s", res.StatusCode, res.body)
	}
	if res := c.get("/metrics"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("metrics without a token: %d", res.StatusCode)
	}
	servertest.MustCreateUser(t, app.svc, "prom", server.RoleViewer)
	h := app.enrollHost("web-01")
	app.svc.Presence().Connected(h.HostID, 1, "192.0.2.10:1")
	app.enrollHost("web-02")
	res = app.apiClient("prom").get("/metrics")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, line := range []string{
		"rm_hosts_total 2",
		`rm_hosts{state="online"} 1`,
		`rm_hosts{state="never_connected"} 1`,
		`rm_http_requests_total{method="GET",route="/healthz",code="200"} 1`,
		"# TYPE rm_http_requests_total counter",
		`rm_mqtt_job_messages_total{outcome="deferred"} 0`,
		"rm_mqtt_resends_asked_total 0",
		"# TYPE rm_mqtt_rejected_total counter",
	} {
		if !strings.Contains(res.body, line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, res.body)
		}
	}
}
