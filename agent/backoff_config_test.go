package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/broker/brokertest"
)

// TestReconnectBackoffMaxFromConfig: reconnect_backoff_max in agent.yaml
// caps the waits between reconnect attempts while the broker is down (by
// default they double from a second up to 30 s: the third wait alone would
// be 2-4 s), and the agent is back once the broker is.
func TestReconnectBackoffMaxFromConfig(t *testing.T) {
	auth := brokertest.NewStaticAuth()
	h := newHost(t, auth)
	b := startBroker(t, "127.0.0.1:0", auth, nil)
	addr := b.TCPAddr()
	b.Close()

	path := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := fmt.Sprintf("host_id: %s\nmqtt_url: mqtt://%s\nmqtt_password: %s\nstate_dir: state\nreconnect_backoff_max: 1s\n", h.id, addr, h.password)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogSink()
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(logs, nil))) // no WithBackoff: the config's cap
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	retryIn := regexp.MustCompile(`retry_in=(\S+)`)
	for gen := 1; gen <= 4; gen++ {
		line := logs.waitFor(t, "cannot connect", fmt.Sprintf("conn_gen=%d ", gen))
		m := retryIn.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no retry_in in %q", line)
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatalf("retry_in in %q: %v", line, err)
		}
		if d > time.Second {
			t.Fatalf("attempt %d waits %s before the next, past reconnect_backoff_max 1s:\n%s", gen, d, logs.String())
		}
	}

	startBroker(t, addr.String(), auth, nil)
	deadline := time.Now().Add(waitTimeout)
	for !a.Connected() {
		if time.Now().After(deadline) {
			t.Fatalf("not connected once the broker was back:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
