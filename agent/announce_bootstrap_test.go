package agent_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestAnnounceRefusesUntrustedBootstrap: whatever is wrong with the server
// or its bootstrap answer, Announce stops before connecting, and leaves
// neither a config nor keys behind.
func TestAnnounceRefusesUntrustedBootstrap(t *testing.T) {
	other := agenttest.NewCA(t, "attacker CA")
	cases := map[string]struct {
		tls    func(f *announceFixture) *tls.Config // nil: the fixture CA's normal chain
		answer func(f *announceFixture, a *topics.BootstrapResponse)
		pin    func(f *announceFixture) string // nil: the fixture CA
		want   string
	}{
		"wrong pin": {
			pin:  func(*announceFixture) string { return other.Fingerprint() },
			want: "refusing to trust",
		},
		"server signed by another CA": {
			tls:  func(*announceFixture) *tls.Config { return other.ServerTLS(t) },
			want: "none of the 2 certificate(s)",
		},
		"no pin and a CA the system does not trust": {
			pin:  func(*announceFixture) string { return "" },
			want: "cannot reach",
		},
		"answer carries another CA": {
			answer: func(_ *announceFixture, a *topics.BootstrapResponse) {
				a.CACert, a.CAFingerprint = other.PEM, other.Fingerprint()
			},
			want: "not the pinned one",
		},
		"answer's fingerprint disagrees with its CA": {
			answer: func(_ *announceFixture, a *topics.BootstrapResponse) { a.CAFingerprint = other.Fingerprint() },
			want:   "does not match its ca_cert",
		},
		"answer without CA": {
			answer: func(_ *announceFixture, a *topics.BootstrapResponse) { a.CACert, a.CAFingerprint = "", "" },
			want:   "no ca_cert",
		},
		"plain MQTT to a remote broker": {
			answer: func(_ *announceFixture, a *topics.BootstrapResponse) { a.MQTTURL = "mqtt://backup.example.com:1883" },
			want:   "plain MQTT",
		},
		"not a broker URL": {
			answer: func(_ *announceFixture, a *topics.BootstrapResponse) { a.MQTTURL = "http://backup.example.com" },
			want:   "unusable mqtt_url",
		},
		"no broker URL": {
			answer: func(_ *announceFixture, a *topics.BootstrapResponse) { a.MQTTURL = "" },
			want:   "no usable mqtt_url",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newAnnounceFixture(t)
			answer := topics.BootstrapResponse{MQTTURL: f.mqttURL, CACert: f.ca.PEM, CAFingerprint: f.ca.Fingerprint()}
			if tc.answer != nil {
				tc.answer(f, &answer)
			}
			tlsCfg := f.ca.ServerTLS(t)
			if tc.tls != nil {
				tlsCfg = tc.tls(f)
			}
			boot := agenttest.NewBootstrapServer(t, tlsCfg, answer)
			opts := f.opts()
			opts.ServerURL = boot.URL
			if tc.pin != nil {
				opts.CAFingerprint = tc.pin(f)
			}
			_, err := agent.Announce(context.Background(), opts)
			f.refusedBeforeConnecting(t, err, tc.want)
		})
	}
}

func TestAnnounceBootstrapServerErrors(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
		want   string
	}{
		"no endpoint":   {404, "<html>not found</html>", "no bootstrap endpoint"},
		"api error":     {403, `{"error":"announce_disabled","message":"announce is switched off"}`, "refused the bootstrap request (HTTP 403): announce is switched off"},
		"rate limited":  {429, `{"error":"rate_limited","message":"slow down"}`, "limiting requests: slow down"},
		"broken":        {502, "<html>bad gateway</html>", "failed (HTTP 502): bad gateway"},
		"not json":      {200, "<html>welcome</html>", "not the expected JSON"},
		"trailing data": {200, `{"mqtt_url":"mqtts://x"} {}`, "data after the JSON"},
		"escape codes":  {400, `{"message":"bad\u001b[2Jthing"}`, "bad?[2Jthing"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newAnnounceFixture(t)
			// Plain http is allowed on loopback; the pin is then checked
			// against the CA in the answer alone.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			opts := f.opts()
			opts.ServerURL = srv.URL
			_, err := agent.Announce(context.Background(), opts)
			f.refusedBeforeConnecting(t, err, tc.want)
		})
	}
}

func TestAnnounceChecksOptions(t *testing.T) {
	cases := map[string]struct {
		mutate func(o *agent.AnnounceOptions)
		want   string
	}{
		"no server":      {func(o *agent.AnnounceOptions) { o.ServerURL = "" }, "--server is required"},
		"plain http":     {func(o *agent.AnnounceOptions) { o.ServerURL = "http://backup.example.com" }, "pose as the server"},
		"malformed pin":  {func(o *agent.AnnounceOptions) { o.CAFingerprint = "SHA256:abc" }, "43 base64"},
		"no config path": {func(o *agent.AnnounceOptions) { o.ConfigPath = "" }, "--config is required"},
		"credentials in url": {func(o *agent.AnnounceOptions) {
			o.ServerURL = strings.Replace(o.ServerURL, "https://", "https://u:p@", 1)
		}, "base URL only"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newAnnounceFixture(t)
			o := f.opts()
			tc.mutate(&o)
			_, err := agent.Announce(context.Background(), o)
			f.refusedBeforeConnecting(t, err, tc.want)
			if n := f.boot.Requests(); n != 0 {
				t.Fatalf("%d bootstrap requests despite bad options", n)
			}
		})
	}
}

func TestAnnounceKeepsExistingConfig(t *testing.T) {
	f := newAnnounceFixture(t)
	if err := os.MkdirAll(filepath.Dir(f.config), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.config, []byte("old identity"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := agent.Announce(context.Background(), f.opts())
	if err == nil || !strings.Contains(err.Error(), "--force") || f.boot.Requests() != 0 {
		t.Fatalf("existing config: err %v, %d requests", err, f.boot.Requests())
	}
	if data, _ := os.ReadFile(f.config); string(data) != "old identity" {
		t.Fatal("the existing config was changed")
	}
	// With Force it announces (and would replace the config on approval).
	o := f.opts()
	o.Force = true
	run := f.start(t, o)
	peer := f.waitPending(t, 1)
	f.double.Approve(t, peer.Client, f.newApprovedHost(t))
	if _, err := run.result(t); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.LoadConfig(f.config); err != nil {
		t.Fatalf("forced announce did not replace the config: %v", err)
	}
}

// refusedBeforeConnecting checks that Announce failed with want and that
// nothing happened past the bootstrap: no config, no keys, no announce.
func (f *announceFixture) refusedBeforeConnecting(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want one containing %q", err, want)
	}
	if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 }) {
		t.Fatalf("error carries control characters: %q", err)
	}
	noConfig(t, f.config)
	if _, statErr := os.Stat(f.stateDir); !os.IsNotExist(statErr) {
		t.Fatalf("state directory created although announce was refused (%v)", statErr)
	}
	if refused := f.double.Refused(); len(refused) != 0 {
		t.Fatalf("the broker saw announce traffic: %q", refused)
	}
	if f.double.Peers() != 0 {
		t.Fatal("the agent announced although it was refused")
	}
}
