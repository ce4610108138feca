package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

func enrollBody(token string) string {
	return fmt.Sprintf(`{"token":%q,"hostname":"web-01.lan","os":"linux","arch":"arm64","agent_version":"0.1.0","restic_version":"0.18.0"}`, token)
}

func TestAgentEnroll(t *testing.T) {
	app := newTestApp(t)
	token, _, err := app.svc.CreateEnrollmentToken(t.Context(), server.CLIActor(), "web-01", 0)
	if err != nil {
		t.Fatal(err)
	}
	agent := app.browser()
	res := agent.postJSON("/api/v1/agents/enroll", enrollBody(token))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("enroll: %d %s", res.StatusCode, res.body)
	}
	var got topics.EnrollResponse
	if err := json.Unmarshal([]byte(res.body), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.HostID, "h_") || got.HostName != "web-01" || got.MQTTPassword == "" ||
		got.MQTTURL != "mqtts://rm.example.test:8883" || got.CAFingerprint != testFingerprint || !strings.Contains(got.CACert, "BEGIN CERTIFICATE") {
		t.Errorf("response = %+v", got)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Error("the response with the MQTT password may be cached")
	}
	host, err := app.svc.GetHost(t.Context(), got.HostID)
	if err != nil || host.Arch != "arm64" || host.RemoteAddr != "127.0.0.1" {
		t.Fatalf("host = %+v, %v", host, err)
	}

	// Reused, unknown and malformed tokens: clear JSON errors, nothing created.
	for body, want := range map[string]int{
		enrollBody(token):             http.StatusConflict,
		enrollBody("rme_unknown"):     http.StatusUnauthorized,
		`{"hostname":"x"}`:            http.StatusBadRequest,
		`{"token":["not","a","str"]}`: http.StatusBadRequest,
		`{`:                           http.StatusBadRequest,
	} {
		res := agent.postJSON("/api/v1/agents/enroll", body)
		if res.StatusCode != want {
			t.Errorf("%s: status %d, want %d", body, res.StatusCode, want)
		}
		if e := apiErrorOf(t, res); !strings.Contains(e.Message, ";") {
			t.Errorf("%s: message %q does not say what to do", body, e.Message)
		}
	}
	if hosts, _ := app.svc.ListHosts(t.Context()); len(hosts) != 1 {
		t.Errorf("%d hosts after failed enrollments, want 1", len(hosts))
	}
}

// TestAgentEnrollRateLimit: failed attempts from one address are limited;
// past the limit even a good token is refused with 429 and creates nothing.
func TestAgentEnrollRateLimit(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.EnrollRateLimit = 3 })
	agent := app.browser()
	for i := range 3 {
		if res := agent.postJSON("/api/v1/agents/enroll", enrollBody(fmt.Sprintf("rme_guess%d", i))); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i, res.StatusCode)
		}
	}
	good, _, err := app.svc.CreateEnrollmentToken(t.Context(), server.CLIActor(), "web-01", 0)
	if err != nil {
		t.Fatal(err)
	}
	res := agent.postJSON("/api/v1/agents/enroll", enrollBody(good))
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if e := apiErrorOf(t, res); e.Error != server.CodeRateLimited {
		t.Errorf("error = %+v", e)
	}
	if hosts, _ := app.svc.ListHosts(t.Context()); len(hosts) != 0 {
		t.Errorf("a rate-limited request created a host")
	}
}

// TestAgentEnrollSuccessesDoNotCount: a site behind one NAT address can
// enroll more machines than the failure limit.
func TestAgentEnrollSuccessesDoNotCount(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.EnrollRateLimit = 2 })
	agent := app.browser()
	for i := range 5 {
		token, _, err := app.svc.CreateEnrollmentToken(t.Context(), server.CLIActor(), fmt.Sprintf("site-%d", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		if res := agent.postJSON("/api/v1/agents/enroll", enrollBody(token)); res.StatusCode != http.StatusOK {
			t.Fatalf("enrollment %d: %d %s", i, res.StatusCode, res.body)
		}
	}
}
