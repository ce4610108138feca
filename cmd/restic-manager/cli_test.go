package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestCLIWhileServing runs every admin subcommand against the data directory
// of a running server, then uses what each printed: a user and their API
// token (with that user's role), an enrollment token that the real agent
// uses, and a monitor account that reads the retained host state over MQTTS.
func TestCLIWhileServing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	m := startServer(t, data, "127.0.0.1:0")

	if out := cli(t, "", "version"); !strings.HasPrefix(out, "restic-manager ") {
		t.Fatalf("version printed %q", out)
	}
	cli(t, "a long operator password\n", "user", "add", "alice", "--role", "operator", "--data", data)
	if _, err := m.Service().Login(t.Context(), "alice", "a long operator password", "127.0.0.1"); err != nil {
		t.Fatalf("user added by the CLI cannot sign in: %v", err)
	}
	tok := cli(t, "", "apitoken", "create", "--user", "alice", "--data", data)
	if !strings.HasPrefix(tok, server.APITokenPrefix) || strings.ContainsAny(tok, " \n") {
		t.Fatalf("apitoken create printed %q, want the token alone", tok)
	}
	api := apiClient{t: t, base: m.HTTPURL(), token: tok}
	if code := api.do("GET", "/api/v1/hosts", nil, nil); code != http.StatusOK {
		t.Fatalf("operator token reading hosts: HTTP %d", code)
	}
	if code := api.do("POST", "/api/v1/enrollment-tokens", map[string]any{"host_name": "nope"}, nil); code != http.StatusForbidden {
		t.Fatalf("operator token creating an enrollment token: HTTP %d, want 403", code)
	}

	// Bad input to a subcommand is a clear error, and changes nothing.
	var errOut strings.Builder
	if err := run(t.Context(), []string{"user", "add", "bob", "--role", "root", "--data", data}, strings.NewReader("pw\n"), io.Discard, &errOut); err == nil {
		t.Fatal("user add with an unknown role succeeded")
	}

	enrollTok := cli(t, "", "token", "create", "--host", "warehouse-pc", "--ttl", "10m", "--data", data)
	cfg := filepath.Join(dir, "agent.yaml")
	out, err := exec.Command(agentBin, "enroll", "--server", m.HTTPURL(), "--token", enrollTok, "--ca-fingerprint", m.TLS().Fingerprint,
		"--config", cfg, "--state-dir", filepath.Join(dir, "state")).CombinedOutput()
	if err != nil {
		t.Fatalf("enroll with a CLI token: %v\n%s", err, out)
	}
	hosts, _ := m.Service().ListHosts(t.Context())
	if len(hosts) != 1 {
		t.Fatalf("hosts: %+v", hosts)
	}
	hostID := hosts[0].ID

	// A monitor account reads rm/v1/monitor/# over MQTTS, pinned to the CA.
	monPw := cli(t, "", "monitor", "add", "grafana", "--data", data)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(m.TLS().CACertPEM)
	var mu sync.Mutex
	states := map[string]topics.MonitorHostState{}
	opts := mqtt.NewClientOptions().AddBroker("ssl://" + m.Broker().TLSAddr().String()).
		SetClientID(server.MonitorUsername("grafana")).SetUsername(server.MonitorUsername("grafana")).SetPassword(monPw).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}).SetAutoReconnect(false)
	mon := mqtt.NewClient(opts)
	if tk := mon.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("monitor connect: %v", tk.Error())
	}
	defer mon.Disconnect(100)
	sub := mon.Subscribe(topics.MonitorFilter, 1, func(_ mqtt.Client, msg mqtt.Message) {
		var st topics.MonitorHostState
		if topics.Decode(msg.Payload(), &st) == nil {
			mu.Lock()
			states[st.Host] = st
			mu.Unlock()
		}
	})
	if !sub.WaitTimeout(10*time.Second) || sub.Error() != nil {
		t.Fatalf("monitor subscribe: %v", sub.Error())
	}
	monitorSays := func(online bool) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			st, ok := states[hostID]
			return ok && st.Online == online && st.Name == "warehouse-pc"
		}
	}
	startAgent(t, cfg)
	waitFor(t, "the monitor topic to say online", 20*time.Second, monitorSays(true))
	// A monitor may read, never write.
	if tk := mon.Publish(topics.MonitorHostTopic(hostID), 1, true, []byte(`{"online":false}`)); !tk.WaitTimeout(5 * time.Second) {
		t.Fatal("monitor publish did not complete")
	}
	if !monitorSays(true)() {
		t.Fatal("a monitor account overwrote the retained host state")
	}

	// /metrics (any API token) exports broker and ingest counters.
	req, _ := http.NewRequest("GET", m.HTTPURL()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`rm_hosts{state="online"} 1`, "rm_broker_connections_total", "rm_broker_denied_publishes_total 1",
		`rm_mqtt_messages_total{result="accepted"}`, "rm_go_heap_inuse_bytes", "rm_pending_hosts 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
