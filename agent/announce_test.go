package agent_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/topics"
)

// TestAnnounceApprovedThenRunsAsHost is the whole flow: announce, banner
// with the fingerprint the server side computed, approval, config written,
// and the agent then online as the host with that config.
func TestAnnounceApprovedThenRunsAsHost(t *testing.T) {
	f := newAnnounceFixture(t)
	run := f.start(t, f.opts())
	peer := f.waitPending(t, 1)

	banner := f.banner.waitFor(t, "Fingerprint:", peer.Fingerprint)
	host, _ := os.Hostname()
	if !strings.Contains(f.banner.String(), "Host name:    "+host+" ("+runtime.GOOS+"/"+runtime.GOARCH+")") {
		t.Fatalf("banner lacks the host name: %q", f.banner.String())
	}
	f.logs.waitFor(t, "waiting for approval", peer.Fingerprint)
	if peer.Client != topics.PendingID(peer.Hello.IdentityKey) || peer.Hello.Hostname != host ||
		peer.Hello.AgentVersion != agent.Version || peer.Hello.OS != runtime.GOOS {
		t.Fatalf("hello %+v", peer.Hello)
	}
	for _, name := range []string{agent.IdentityKeyFile, agent.SealKeyFile} {
		checkMode(t, filepath.Join(f.stateDir, name), 0o600)
	}
	checkMode(t, f.stateDir, 0o700)

	creds := f.newApprovedHost(t)
	f.double.Approve(t, peer.Client, creds)
	cfg, err := run.result(t)
	if err != nil {
		t.Fatal(err)
	}
	waitDisconnect(t, f.broker, peer.Client) // the pending client is gone
	checkMode(t, f.config, 0o600)
	loaded, err := agent.LoadConfig(f.config)
	if err != nil {
		t.Fatalf("written config does not load: %v", err)
	}
	if loaded.HostID != creds.HostID || loaded.MQTTPassword != creds.MQTTPassword || loaded.MQTTURL != f.mqttURL ||
		loaded.CACert != f.ca.PEM || loaded.CAFingerprint != f.ca.Fingerprint() || loaded.StateDir != f.stateDir ||
		loaded.ServerURL != f.boot.URL || loaded.ResticBinary != "restic" || cfg.HostID != creds.HostID {
		t.Fatalf("config does not hold the approval: %s", loaded)
	}
	if n := strings.Count(f.banner.String(), "waiting for approval"); n != 1 || !strings.HasPrefix(strings.TrimLeft(banner, "- \n"), "Fingerprint:") {
		t.Fatalf("banner printed %d times: %q", n, f.banner.String())
	}
	if strings.Contains(f.logs.String(), creds.MQTTPassword) {
		t.Fatal("the MQTT password is in the log")
	}

	// What the CLI does next, with the returned config: run as the host.
	up := newCollector()
	up.watch(t, f.broker, topics.HostUpFilter(creds.HostID))
	startAgent(t, cfg)
	if m := up.waitFor(t, "the host's hello", func(m broker.Message) bool { return m.Topic == topics.HelloTopic(creds.HostID) }); m.ClientID != creds.HostID {
		t.Fatalf("hello from client %q", m.ClientID)
	}
}

func TestAnnounceKeepsItsKeys(t *testing.T) {
	f := newAnnounceFixture(t)
	keys, created, err := agent.LoadAnnounceKeys(f.stateDir)
	if err != nil || !created {
		t.Fatalf("first load: created %v, %v", created, err)
	}
	again, created, err := agent.LoadAnnounceKeys(f.stateDir)
	if err != nil || created || again.Fingerprint() != keys.Fingerprint() || string(again.SealKey()) != string(keys.SealKey()) {
		t.Fatalf("second load: created %v, %v; fingerprint %s vs %s", created, err, again.Fingerprint(), keys.Fingerprint())
	}

	// Two announces from this state directory are one machine to the server.
	for i := 1; i <= 2; i++ {
		run := f.start(t, f.opts())
		peer := f.double.WaitFor(t, "an announce", func(p agenttest.AnnouncePeer) bool { return p.Hellos >= i })
		if peer.Fingerprint != keys.Fingerprint() || peer.Client != keys.ClientID() {
			t.Fatalf("announce %d: fingerprint %s client %s, want %s %s", i, peer.Fingerprint, peer.Client, keys.Fingerprint(), keys.ClientID())
		}
		run.cancel()
		if _, err := run.result(t); err == nil || !strings.Contains(err.Error(), "run announce again to keep waiting") {
			t.Fatalf("stopped announce: %v", err)
		}
	}
}

func TestAnnounceKeyFilesAreChecked(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := agent.LoadAnnounceKeys(dir); err != nil {
		t.Fatal(err)
	}
	id := filepath.Join(dir, agent.IdentityKeyFile)
	if runtime.GOOS != "windows" {
		if err := os.Chmod(id, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := agent.LoadAnnounceKeys(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("world-readable key: %v", err)
		}
	}
	if err := os.WriteFile(id, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(id, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := agent.LoadAnnounceKeys(dir); err == nil || !strings.Contains(err.Error(), "not a PEM private key") {
		t.Fatalf("corrupt key: %v", err)
	}
	// The seal key file holds an X25519 key; an Ed25519 one there is refused.
	dir2 := t.TempDir()
	if _, _, err := agent.LoadAnnounceKeys(dir2); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir2, agent.IdentityKeyFile))
	if err := os.WriteFile(filepath.Join(dir2, agent.SealKeyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := agent.LoadAnnounceKeys(dir2); err == nil || !strings.Contains(err.Error(), "not an X25519 key") {
		t.Fatalf("wrong key type: %v", err)
	}
}

func TestAnnounceRejected(t *testing.T) {
	f := newAnnounceFixture(t)
	run := f.start(t, f.opts())
	peer := f.waitPending(t, 1)
	f.double.Reject(t, peer.Client, "not one of ours")
	_, err := run.result(t)
	if !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), "rejected this machine") ||
		!strings.Contains(err.Error(), "not one of ours") || !strings.Contains(err.Error(), peer.Fingerprint) {
		t.Fatalf("rejection: %v", err)
	}
	noConfig(t, f.config)
}

// TestAnnounceApprovalWhileOffline: the admin accepts while the agent has no
// connection; the agent announces again when it is back and gets the
// credentials then.
func TestAnnounceApprovalWhileOffline(t *testing.T) {
	f := newAnnounceFixture(t)
	run := f.start(t, f.opts())
	peer := f.waitPending(t, 1)
	f.banner.waitFor(t, peer.Fingerprint)

	f.auth.refusePending.Store(true)
	f.broker.Disconnect(peer.Client) // drops its session too: only a new announce can bring the approval
	waitDisconnect(t, f.broker, peer.Client)
	f.logs.waitFor(t, "cannot connect to announce; retrying") // it is trying, and kept out
	creds := f.newApprovedHost(t)
	f.double.Approve(t, peer.Client, creds)
	f.auth.refusePending.Store(false)

	cfg, err := run.result(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HostID != creds.HostID {
		t.Fatalf("config for %s, want %s", cfg.HostID, creds.HostID)
	}
	if p := f.waitPending(t, 2); p.Hellos < 2 {
		t.Fatalf("%d hellos: the approval did not come through a new announce", p.Hellos)
	}
	if n := strings.Count(f.banner.String(), "waiting for approval"); n != 1 {
		t.Fatalf("banner printed %d times", n)
	}
}

func TestAnnounceRefusesUnusableApproval(t *testing.T) {
	other, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreignCA, _ := jsonMarshal(agenttest.NewCA(t, "attacker CA").PEM)
	cases := map[string]struct {
		sealed func(f *announceFixture, peer agenttest.AnnouncePeer) []byte
		want   string
	}{
		"sealed to another key": {func(f *announceFixture, _ agenttest.AnnouncePeer) []byte {
			b, err := topics.SealCredentials(other.PublicKey().Bytes(), []byte(`{"host_id":"h_abc","mqtt_password":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, "cannot be opened with this machine's seal key"},
		"not JSON":      {sealedTo(t, "garbage"), "not the expected JSON"},
		"bad host id":   {sealedTo(t, `{"host_id":"p_nope","host_name":"x","mqtt_password":"x"}`), "invalid host_id"},
		"no password":   {sealedTo(t, `{"host_id":"h_abc","host_name":"x"}`), "mqtt_password"},
		"foreign CA":    {sealedTo(t, `{"host_id":"h_abc","host_name":"x","mqtt_password":"x","ca_cert":`+string(foreignCA)+`}`), "not the pinned one"},
		"bad mqtt url":  {sealedTo(t, `{"host_id":"h_abc","host_name":"x","mqtt_password":"x","mqtt_url":"http://x"}`), "mqtt_url"},
		"trailing data": {sealedTo(t, `{"host_id":"h_abc","host_name":"x","mqtt_password":"x"} {}`), "not the expected JSON"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newAnnounceFixture(t)
			run := f.start(t, f.opts())
			peer := f.waitPending(t, 1)
			f.double.ApproveSealed(t, peer.Client, tc.sealed(f, peer))
			_, err := run.result(t)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was written") {
				t.Fatalf("err %v, want %q and nothing written", err, tc.want)
			}
			noConfig(t, f.config)
		})
	}
}

// sealedTo returns credentials sealed, as the server would, to the seal key
// of the announcing client.
func sealedTo(t *testing.T, plaintext string) func(*announceFixture, agenttest.AnnouncePeer) []byte {
	return func(_ *announceFixture, peer agenttest.AnnouncePeer) []byte {
		b, err := topics.SealCredentials(peer.Hello.SealKey, []byte(plaintext))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// checkMode checks a file's or directory's permissions (not on Windows,
// where they are ACLs).
func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != want {
		t.Fatalf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
	}
}

// noConfig checks that nothing was written at path.
func noConfig(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("config %s written (%v)", path, err)
	}
}
