//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An existing 0755 data directory is tightened to 0700 at start, and the
// database files in it are 0600 (#9: the attack run found them 0644).
func TestServeMakesDataDirPrivate(t *testing.T) {
	// Not parallel: it sets the process's umask, which every test's files get.
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	startServer(t, dir, "127.0.0.1:0")
	want := map[string]os.FileMode{
		dir: 0o700, filepath.Join(dir, "restic-manager.db"): 0o600,
		filepath.Join(dir, "restic-manager.db-wal"): 0o600, filepath.Join(dir, "restic-manager.db-shm"): 0o600,
		filepath.Join(dir, "master.key"): 0o600,
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), mode)
		}
	}
}

// /healthz answers 503 with a reason once the broker stops serving.
func TestServeHealthzChecksTheBroker(t *testing.T) {
	t.Parallel()
	m := startServer(t, t.TempDir(), "127.0.0.1:0")
	health := func() (int, map[string]string) {
		res, err := http.Get(m.HTTPURL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	if code, body := health(); code != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("healthy server: %d %v", code, body)
	}
	if err := m.Broker().Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := health()
		if code == http.StatusServiceUnavailable {
			if body["status"] != "unavailable" || !strings.Contains(body["reason"], "MQTT broker") {
				t.Errorf("503 body %v, want the broker named as the reason", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %v after the broker stopped", code, body)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// serve's per-address connection cap is wired to the web listeners: over it,
// connections from one address are closed while another address is served.
func TestServeCapsHTTPConnectionsPerAddress(t *testing.T) {
	t.Parallel()
	m := &Main{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", MQTTSAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stdout: io.Discard, AdminPassword: "admin password for tests", HTTPConnsPerAddr: 2}
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	addr := strings.TrimPrefix(m.HTTPURL(), "http://")
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	served := func(c net.Conn) bool {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: rm.test\r\n\r\n"); err != nil {
			return false
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && strings.HasPrefix(line, "HTTP/1.1 200")
	}
	for i := range 2 {
		if !served(dial("127.0.0.1")) {
			t.Fatalf("connection %d from 127.0.0.1 not served", i+1)
		}
	}
	over := dial("127.0.0.1")
	if n, err := over.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a 3rd connection from 127.0.0.1 was not closed at once (read %d, %v)", n, err)
	}
	if !served(dial("127.0.0.2")) {
		t.Fatal("127.0.0.2 not served while 127.0.0.1 is at its cap")
	}
}
