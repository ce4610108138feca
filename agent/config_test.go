package agent_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

const testPassword = "s3cret-mqtt-password-do-not-log"

// validConfig returns a config that passes Validate, with a TLS broker URL.
func validConfig(t *testing.T, ca *agenttest.CA) *agent.Config {
	t.Helper()
	return &agent.Config{
		HostID:        topics.RandomID(topics.HostIDPrefix),
		MQTTURL:       "mqtts://backup.example.com:8883",
		MQTTPassword:  testPassword,
		StateDir:      t.TempDir(),
		CACert:        ca.PEM,
		CAFingerprint: ca.Fingerprint(),
	}
}

func TestConfigValidate(t *testing.T) {
	ca := agenttest.NewCA(t, "test CA")
	other := agenttest.NewCA(t, "other CA")
	cases := []struct {
		name    string
		mutate  func(c *agent.Config)
		wantErr string // substring; "" = valid
	}{
		{"valid", func(c *agent.Config) {}, ""},
		{"plain mqtt without CA", func(c *agent.Config) { c.MQTTURL = "mqtt://10.0.0.1:1883"; c.CACert = ""; c.CAFingerprint = "" }, ""},
		{"tcp and ssl schemes", func(c *agent.Config) { c.MQTTURL = "ssl://h:8883" }, ""},
		{"port defaults", func(c *agent.Config) { c.MQTTURL = "mqtts://h" }, ""},
		{"ipv6", func(c *agent.Config) { c.MQTTURL = "mqtts://[::1]:8883" }, ""},
		{"bad host id", func(c *agent.Config) { c.HostID = "web-1" }, "host_id"},
		{"empty host id", func(c *agent.Config) { c.HostID = "" }, "host_id"},
		{"no url", func(c *agent.Config) { c.MQTTURL = "" }, "mqtt_url"},
		{"http url", func(c *agent.Config) { c.MQTTURL = "https://h:8883" }, "mqtt_url scheme"},
		{"ws url", func(c *agent.Config) { c.MQTTURL = "ws://h:8883" }, "mqtt_url scheme"},
		{"credentials in url", func(c *agent.Config) { c.MQTTURL = "mqtts://u:p@h:8883" }, "mqtt_password"},
		{"path in url", func(c *agent.Config) { c.MQTTURL = "mqtts://h:8883/x" }, "scheme://host:port only"},
		{"no password", func(c *agent.Config) { c.MQTTPassword = "" }, "mqtt_password is empty"},
		{"newline in password", func(c *agent.Config) { c.MQTTPassword = "a\nb" }, "mqtt_password is malformed"},
		{"no state dir", func(c *agent.Config) { c.StateDir = "" }, "state_dir"},
		{"restic with spaces", func(c *agent.Config) { c.ResticBinary = " restic" }, "restic_binary"},
		{"bad server url", func(c *agent.Config) { c.ServerURL = "backup.example.com" }, "server_url"},
		{"tls without ca", func(c *agent.Config) { c.CACert = ""; c.CAFingerprint = "" }, "ca_cert is empty"},
		{"ca not pem", func(c *agent.Config) { c.CACert = "hello" }, "ca_cert"},
		{"fingerprint mismatch", func(c *agent.Config) { c.CAFingerprint = other.Fingerprint() }, "ca_fingerprint does not match"},
		{"fingerprint malformed", func(c *agent.Config) { c.CAFingerprint = "MD5:abc" }, "ca_fingerprint"},
		{"fingerprint without ca", func(c *agent.Config) { c.MQTTURL = "mqtt://h:1"; c.CACert = "" }, "ca_cert is empty"},
		{"heartbeat too short", func(c *agent.Config) { c.HeartbeatInterval = 10 * time.Millisecond }, "heartbeat_interval"},
		{"heartbeat too long", func(c *agent.Config) { c.HeartbeatInterval = 2 * time.Hour }, "heartbeat_interval"},
		{"log level", func(c *agent.Config) { c.LogLevel = "loud" }, "log_level"},
		{"reconnect backoff cap", func(c *agent.Config) { c.ReconnectBackoffMax = 5 * time.Second }, ""},
		{"reconnect backoff cap at the first wait", func(c *agent.Config) { c.ReconnectBackoffMax = time.Second }, ""},
		{"reconnect backoff cap below the first wait", func(c *agent.Config) { c.ReconnectBackoffMax = 500 * time.Millisecond }, "reconnect_backoff_max 500ms is out of range"},
		{"reconnect backoff cap too long", func(c *agent.Config) { c.ReconnectBackoffMax = 2 * time.Hour }, "reconnect_backoff_max 2h0m0s is out of range"},
		{"reconnect backoff cap negative", func(c *agent.Config) { c.ReconnectBackoffMax = -time.Second }, "reconnect_backoff_max"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t, ca)
			tc.mutate(c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("want error containing %q, got valid", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
			case err != nil && strings.Contains(err.Error(), testPassword):
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig(t, agenttest.NewCA(t, "ca"))
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ResticBinary != "restic" || c.HeartbeatInterval != 30*time.Second || c.LogLevel != "info" {
		t.Fatalf("defaults not applied: %s", c)
	}
	c.MQTTURL = "mqtts://h"
	u, err := c.BrokerURL()
	if err != nil || u.Host != "h:8883" {
		t.Fatalf("default TLS port: %v %v", u, err)
	}
}

func TestConfigSaveLoadRoundTrip(t *testing.T) {
	c := validConfig(t, agenttest.NewCA(t, "ca"))
	c.ServerURL = "https://backup.example.com"
	c.HeartbeatInterval = 45 * time.Second
	dir := filepath.Join(t.TempDir(), "etc", "restic-manager-agent")
	path := filepath.Join(dir, "agent.yaml")
	if err := c.SaveConfig(path); err != nil {
		t.Fatal(err)
	}
	got, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *c {
		t.Fatalf("round trip changed the config:\n got %#v\nwant %#v", got, c)
	}
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("created directory mode %v, want 0700", di.Mode().Perm())
	}
}

func TestConfigSaveIsAtomic(t *testing.T) {
	ca := agenttest.NewCA(t, "ca")
	path := filepath.Join(t.TempDir(), "agent.yaml")
	first := validConfig(t, ca)
	if err := first.SaveConfig(path); err != nil {
		t.Fatal(err)
	}
	// Even a file someone loosened gets 0600 again on rewrite, because the
	// rewrite is a new file renamed over the old one.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	second := validConfig(t, ca)
	if err := second.SaveConfig(path); err != nil {
		t.Fatal(err)
	}
	// An invalid config is refused before anything is written.
	bad := validConfig(t, ca)
	bad.HostID = "nope"
	if err := bad.SaveConfig(path); err == nil {
		t.Fatal("invalid config saved")
	}
	got, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.HostID != second.HostID {
		t.Fatalf("file holds host %s, want the second save's %s", got.HostID, second.HostID)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("temporary files left behind: %v", names)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("rewritten config mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h := topics.RandomID(topics.HostIDPrefix)
	base := "host_id: " + h + "\nmqtt_url: mqtt://127.0.0.1:1883\nmqtt_password: pw\n"
	cases := map[string]struct{ path, want string }{
		"missing":       {filepath.Join(dir, "nope.yaml"), "enroll this host first"},
		"not yaml":      {write("a.yaml", "host_id: [\n"), "not valid YAML"},
		"unknown field": {write("b.yaml", base+"state_dir: s\nheartbeat_intervall: 5s\n"), "heartbeat_intervall"},
		"bad duration":  {write("c.yaml", base+"state_dir: s\nheartbeat_interval: soon\n"), "heartbeat_interval"},
		"bad backoff cap": {write("f.yaml", base+"state_dir: s\nheartbeat_interval: 5s\nreconnect_backoff_max: soon\n"),
			"reconnect_backoff_max: time: invalid duration"},
		"backoff cap out of range": {write("g.yaml", base+"state_dir: s\nreconnect_backoff_max: 3h\n"), "reconnect_backoff_max 3h0m0s is out of range"},
		"no state dir":             {write("d.yaml", base), "state_dir"},
	}
	for name, tc := range cases {
		_, err := agent.LoadConfig(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want error containing %q, got %v", name, tc.want, err)
		}
	}
	// A relative state_dir is relative to the config file.
	c, err := agent.LoadConfig(write("e.yaml", base+"state_dir: state\nheartbeat_interval: 1m\nreconnect_backoff_max: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != filepath.Join(dir, "state") || c.HeartbeatInterval != time.Minute || c.ReconnectBackoffMax != 5*time.Second {
		t.Fatalf("state_dir %q heartbeat %s reconnect_backoff_max %s", c.StateDir, c.HeartbeatInterval, c.ReconnectBackoffMax)
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	c := validConfig(t, agenttest.NewCA(t, "ca"))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", c, "val", *c)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", c)
	shown := []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, *c), logs.String()}
	for _, s := range shown {
		if strings.Contains(s, testPassword) {
			t.Fatalf("password shown: %s", s)
		}
		if !strings.Contains(s, c.HostID) {
			t.Fatalf("host id missing, so the redaction test proves nothing: %s", s)
		}
	}
}
