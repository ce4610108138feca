package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/agent"
)

// TestMQTTStoreFailureIsServerUnavailable is #9's "a passing server error
// locks agents out": with the real server, its real SQLite store and the
// real agent. While the store cannot answer the credential check (the hosts
// table is renamed away by another connection, so the lookup fails as
// "no such table"), a host logging in for the first time (a credential
// checked once is cached, #15) with the right password is told "server
// unavailable" (MQTT 5: 0x88, 3.1.1: 0x03), more times than the broker's
// failed-login limit without its address being blocked, and the agent keeps
// retrying on its short backoff (its wait after refused credentials is an
// hour here) and is back as soon as the store is.
func TestMQTTStoreFailureIsServerUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m := &Main{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", Logger: logger, Stdout: io.Discard,
		AdminPassword: "admin password for tests"}
	if err := m.Run(t.Context()); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { m.Close() })

	token := cli(t, "", "token", "create", "--host", "shop-till-2", "--data", dataDir)
	enrolled, err := agent.Enroll(t.Context(), agent.EnrollOptions{ServerURL: m.HTTPURL(), Token: token,
		ConfigPath: filepath.Join(dir, "agent.yaml"), StateDir: filepath.Join(dir, "state"), Logger: logger})
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	cfg := enrolled.Config

	// Break the store under the running server before the host ever logs
	// in: a credential the server has checked once is cached (#15), so only
	// a first login still needs the store.
	store, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "restic-manager.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := store.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`ALTER TABLE hosts RENAME TO hosts_away`)

	a, err := agent.New(cfg, logger, agent.WithBackoff(50*time.Millisecond, 200*time.Millisecond),
		agent.WithRefusedRetry(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })

	mqttAddr := m.Broker().TCPAddr()
	const attempts = 22 // more than the broker's default MaxAuthFailuresPerAddr (20)
	for i := 0; i < attempts; i++ {
		version, want := byte(4), packets.Err3ServerUnavailable.Code
		if i%2 == 1 {
			version, want = 5, packets.ErrServerUnavailable.Code
		}
		if code := mqttConnack(t, mqttAddr, version, cfg.HostID, cfg.MQTTPassword); code != want {
			t.Fatalf("attempt %d (MQTT %d) while the store fails: CONNACK %#x, want %#x (server unavailable)", i+1, version, code, want)
		}
	}
	if s := m.Broker().Stats(); s.AuthFailures != 0 || s.Unavailable < attempts {
		t.Errorf("broker stats while the store failed: %+v; want every refusal counted as unavailable, none as a failed login", s)
	}

	if a.Connected() {
		t.Fatal("the agent connected while the store could not check its credential")
	}
	exec(`ALTER TABLE hosts_away RENAME TO hosts`)
	waitFor(t, "the agent in after the store recovered", 20*time.Second, a.Connected)
	// The address was never blocked: the host's own login works at once.
	if code := mqttConnack(t, mqttAddr, 4, cfg.HostID, cfg.MQTTPassword); code != 0 {
		t.Errorf("after the store recovered: CONNACK %#x, want accepted", code)
	}
}

// mqttConnack sends one CONNECT (client ID = username = id) and returns the
// CONNACK's reason code.
func mqttConnack(t *testing.T, addr net.Addr, version byte, id, password string) byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	connect := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
			ClientIdentifier: id, UsernameFlag: true, Username: []byte(id),
			PasswordFlag: true, Password: []byte(password),
		},
	}
	var buf bytes.Buffer
	if err := connect.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	r := bufio.NewReader(conn)
	var ack packets.Packet
	first, err := r.ReadByte()
	if err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if err := ack.FixedHeader.Decode(first); err != nil || ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("not a CONNACK: %#x (%v)", first, err)
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	ack.ProtocolVersion = version
	if err := ack.ConnackDecode(body); err != nil {
		t.Fatal(err)
	}
	return ack.ReasonCode
}
