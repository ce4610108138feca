package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
)

type hostJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Online       bool       `json:"online"`
	LastSeen     *time.Time `json:"last_seen"`
	OS           string     `json:"os"`
	AgentVersion string     `json:"agent_version"`
}

// TestEnrollPresenceAndRestart is the foundation's end-to-end flow: the whole
// server on port 0, a token from the API, the real agent binary enrolling with
// the pinned CA and connecting over MQTTS, online/offline through the API, and
// a server restart after which the host comes back by itself.
func TestEnrollPresenceAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	m := startServer(t, dataDir, "127.0.0.1:0")
	mqttsAddr := m.Broker().TLSAddr().String()

	// Subcommands work against the live server's data directory.
	apiToken := cli(t, "", "apitoken", "create", "--user", "admin", "--data", dataDir)
	api := apiClient{t: t, base: m.HTTPURL(), token: apiToken}

	var tok struct {
		Token          string    `json:"token"`
		ExpiresAt      time.Time `json:"expires_at"`
		InstallCommand string    `json:"install_command"`
		EnrollCommand  string    `json:"enroll_command"`
	}
	if code := api.do("POST", "/api/v1/enrollment-tokens", map[string]any{"host_name": "shop-till-1", "ttl": "30m"}, &tok); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create token: HTTP %d", code)
	}
	fp := m.TLS().Fingerprint
	if !strings.Contains(tok.InstallCommand, tok.Token) || !strings.Contains(tok.InstallCommand, fp) {
		t.Fatalf("install command lacks token or fingerprint: %q", tok.InstallCommand)
	}
	// The enroll command writes the config where the agent looks by default.
	if !strings.Contains(tok.EnrollCommand, agent.DefaultConfigPath()) {
		t.Fatalf("enroll command %q does not use the agent's default config path %s", tok.EnrollCommand, agent.DefaultConfigPath())
	}
	if d := time.Until(tok.ExpiresAt); d < 25*time.Minute || d > 31*time.Minute {
		t.Fatalf("expires_at %s not ~30m away", tok.ExpiresAt)
	}

	// Enroll with the real agent binary over HTTPS, pinning the server's own CA.
	cfgPath := filepath.Join(dir, "agent", "agent.yaml")
	enroll := exec.Command(agentBin, "enroll", "--server", m.HTTPSURL(), "--token", tok.Token, "--ca-fingerprint", fp,
		"--config", cfgPath, "--state-dir", filepath.Join(dir, "agent", "state"))
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("agent config: %v mode %v", err, fi.Mode().Perm())
	}
	// The token is single-use: a second enroll is refused and writes nothing.
	again := exec.Command(agentBin, "enroll", "--server", m.HTTPSURL(), "--token", tok.Token, "--ca-fingerprint", fp,
		"--config", filepath.Join(dir, "other.yaml"), "--state-dir", filepath.Join(dir, "other"))
	if out, err := again.CombinedOutput(); err == nil || !strings.Contains(string(out), "already used") {
		t.Fatalf("reused token: err %v, output %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.yaml")); !os.IsNotExist(err) {
		t.Fatal("a refused enroll wrote a config")
	}
	// A pin that is not this server's CA is refused before the token is sent.
	wrongPin := "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tok2 := cli(t, "", "token", "create", "--host", "not-enrolled", "--data", dataDir)
	if out, err := exec.Command(agentBin, "enroll", "--server", m.HTTPSURL(), "--token", tok2, "--ca-fingerprint", wrongPin,
		"--config", filepath.Join(dir, "pin.yaml"), "--state-dir", filepath.Join(dir, "pin")).CombinedOutput(); err == nil {
		t.Fatalf("enroll with a wrong CA pin succeeded: %s", out)
	}
	if tokens, _ := m.Service().ListEnrollmentTokens(t.Context()); len(tokens) != 1 || tokens[0].HostName != "not-enrolled" {
		t.Fatalf("the token was used despite the wrong pin: %+v", tokens)
	}

	var list struct {
		Hosts []hostJSON `json:"hosts"`
	}
	api.do("GET", "/api/v1/hosts", nil, &list)
	if len(list.Hosts) != 1 || list.Hosts[0].Name != "shop-till-1" || list.Hosts[0].Online {
		t.Fatalf("hosts after enroll: %+v", list.Hosts)
	}
	id := list.Hosts[0].ID
	host := func(m *Main) hostJSON {
		var h hostJSON
		c := apiClient{t: t, base: m.HTTPURL(), token: apiToken}
		if code := c.do("GET", "/api/v1/hosts/"+id, nil, &h); code != http.StatusOK {
			t.Fatalf("GET host: HTTP %d", code)
		}
		return h
	}

	agent := startAgent(t, cfgPath)
	waitFor(t, "host online", 20*time.Second, func() bool { return host(m).Online })
	h := host(m)
	if h.AgentVersion == "" || h.OS == "" || h.LastSeen == nil {
		t.Fatalf("hello not recorded: %+v\nagent log:\n%s", h, agent.logs)
	}

	// A clean stop: offline.
	agent.stop(syscall.SIGTERM)
	waitFor(t, "host offline after agent stop", 20*time.Second, func() bool { return !host(m).Online })

	// Start it again, then restart the server under it: the agent reconnects by itself.
	startAgent(t, cfgPath)
	waitFor(t, "host online again", 20*time.Second, func() bool { return host(m).Online })
	if err := m.Close(); err != nil {
		t.Fatalf("close server: %v", err)
	}
	m2 := startServer(t, dataDir, mqttsAddr)
	if m2.TLS().Fingerprint != fp {
		t.Fatal("the CA changed across a restart; enrolled agents would refuse the server")
	}
	waitFor(t, "host online after server restart", 45*time.Second, func() bool { return host(m2).Online })

	// Revocation cuts the running agent off at once, and it cannot come back.
	api2 := apiClient{t: t, base: m2.HTTPURL(), token: apiToken}
	if code := api2.do("POST", "/api/v1/hosts/"+id+"/revoke", map[string]any{"confirm": "wrong-name"}, nil); code != http.StatusBadRequest {
		t.Fatalf("revoke with a wrong confirmation: HTTP %d, want 400", code)
	}
	failuresBefore := m2.Broker().Stats().AuthFailures
	if code := api2.do("POST", "/api/v1/hosts/"+id+"/revoke", map[string]any{"confirm": "shop-till-1"}, nil); code != http.StatusOK {
		t.Fatalf("revoke: HTTP %d", code)
	}
	if code := api2.do("GET", "/api/v1/hosts/"+id, nil, nil); code != http.StatusNotFound {
		t.Fatalf("revoked host still served: HTTP %d", code)
	}
	// The agent reconnects with its old secret and is refused.
	waitFor(t, "the revoked agent's reconnect to be refused", 30*time.Second, func() bool {
		return m2.Broker().Stats().AuthFailures > failuresBefore
	})
}
