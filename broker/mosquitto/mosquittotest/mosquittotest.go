// Package mosquittotest starts a real Mosquitto 2 with the dynamic-security
// plugin for tests: its own configuration in a temporary directory, one
// loopback listener on a free port, and a dynamic-security.json with one
// admin client whose role is what the server needs (docs/mqtt.md).
// A machine without mosquitto or the plugin skips the test (fails it under
// RM_TEST_DISALLOW_SKIP=1).
package mosquittotest

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// AdminUser is the admin client's username in the generated configuration.
const AdminUser = "rm-admin"

// Broker is a running Mosquitto.
type Broker struct {
	// URL is mqtt://127.0.0.1:port.
	URL *url.URL
	// AdminPassword is AdminUser's password.
	AdminPassword string
	// Dir holds mosquitto.conf, dynamic-security.json and the log.
	Dir string

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// pluginPaths are where Debian and other distributions put the plugin.
var pluginPaths = []string{
	"/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
	"/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
	"/usr/lib/mosquitto_dynamic_security.so",
	"/usr/lib64/mosquitto_dynamic_security.so",
	"/usr/local/lib/mosquitto_dynamic_security.so",
}

// Options are what a test may change of the broker.
type Options struct {
	// CertFile and KeyFile, when set, make the listener MQTT over TLS
	// (URL mqtts://127.0.0.1:port) with that certificate.
	CertFile, KeyFile string
}

// Start starts a Mosquitto for tb and stops it when tb ends.
func Start(tb testing.TB) *Broker {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartWith is Start with options.
func StartWith(tb testing.TB, opts Options) *Broker {
	tb.Helper()
	bin := findMosquitto(tb)
	plugin := ""
	for _, p := range pluginPaths {
		if _, err := os.Stat(p); err == nil {
			plugin = p
			break
		}
	}
	if plugin == "" {
		agenttest.Unavailable(tb, "mosquitto's dynamic-security plugin is not installed (looked in %v)", pluginPaths)
	}
	dir := tb.TempDir()
	b := &Broker{Dir: dir, AdminPassword: randomText(tb)}
	if err := writeDynsec(filepath.Join(dir, "dynamic-security.json"), b.AdminPassword); err != nil {
		tb.Fatal(err)
	}
	// mosquitto cannot listen on port 0: pick a free port, and pick again
	// when another process took it in between.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = b.start(tb, bin, plugin, opts); err == nil {
			tb.Cleanup(b.Stop)
			return b
		}
	}
	tb.Fatalf("mosquitto did not start: %v", err)
	return nil
}

func findMosquitto(tb testing.TB) string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	// Debian installs it in /usr/sbin, which is not on every user's PATH.
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	agenttest.Unavailable(tb, "mosquitto is not installed (apt-get install mosquitto)")
	return ""
}

func (b *Broker) start(tb testing.TB, bin, plugin string, opts Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`per_listener_settings false
allow_anonymous false
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
listener %d 127.0.0.1
plugin %s
plugin_opt_config_file %s
`, port, plugin, filepath.Join(b.Dir, "dynamic-security.json"))
	scheme := "mqtt"
	if opts.CertFile != "" {
		scheme = "mqtts"
		conf += fmt.Sprintf("certfile %s\nkeyfile %s\n", opts.CertFile, opts.KeyFile)
	}
	if os.Geteuid() == 0 {
		// Started as root, mosquitto switches to the user "mosquitto", who
		// cannot read the test's private directory.
		conf += "user root\n"
	}
	confPath := filepath.Join(b.Dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	b.log = &syncBuffer{}
	b.cmd = exec.Command(bin, "-c", confPath)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		return err
	}
	b.done = make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-b.done:
			return fmt.Errorf("mosquitto exited: %s", b.log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			b.URL = &url.URL{Scheme: scheme, Host: addr}
			tb.Logf("mosquitto listening on %s (config in %s)", addr, b.Dir)
			return nil
		}
		select {
		case <-b.done:
		case <-time.After(20 * time.Millisecond): // polling for the listener, not synchronising on time
		}
	}
	b.Stop()
	return fmt.Errorf("mosquitto did not listen on %s within 20 s: %s", addr, b.log.String())
}

// Stop stops Mosquitto and waits for it.
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.done
}

// Log is what Mosquitto wrote so far.
func (b *Broker) Log() string { return b.log.String() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomText(tb testing.TB) string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// writeDynsec writes the plugin's configuration: the admin client with the
// role docs/mqtt.md asks for, and default access denying what no role
// allows.
func writeDynsec(path, adminPassword string) error {
	salt := make([]byte, 12)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	const iterations = 101
	hash, err := pbkdf2.Key(sha512.New, adminPassword, salt, iterations, sha512.Size)
	if err != nil {
		return err
	}
	acl := func(typ, topic string) map[string]any {
		return map[string]any{"acltype": typ, "topic": topic, "allow": true}
	}
	cfg := map[string]any{
		"defaultACLAccess": map[string]bool{
			"publishClientSend": false, "publishClientReceive": true, "subscribe": false, "unsubscribe": true,
		},
		"clients": []any{map[string]any{
			"username": AdminUser, "password": base64.StdEncoding.EncodeToString(hash),
			"salt": base64.StdEncoding.EncodeToString(salt), "iterations": iterations,
			"roles": []any{map[string]any{"rolename": "rm-server"}},
		}},
		"groups": []any{},
		"roles": []any{map[string]any{
			"rolename": "rm-server",
			"acls": []any{
				acl("publishClientSend", "$CONTROL/dynamic-security/#"),
				acl("publishClientReceive", "$CONTROL/dynamic-security/#"),
				acl("subscribePattern", "$CONTROL/dynamic-security/#"),
				// Exactly docs/external-broker.md's setup: publish under
				// rm/v1/, the share group, and the hosts' up/ topics each
				// replica observes on its own.
				acl("publishClientSend", "rm/v1/#"),
				acl("subscribePattern", "$share/restic-manager/rm/v1/#"),
				acl("subscribePattern", "rm/v1/hosts/+/up/#"),
			},
		}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
