package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
)

// logSink is a slog destination the test can wait on.
type logSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newLogSink() *logSink { return &logSink{notify: make(chan struct{}, 1)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until the log holds a line containing every one of parts.
func (l *logSink) waitFor(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
	lines:
		for _, line := range strings.Split(l.String(), "\n") {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			return line
		}
		select {
		case <-l.notify:
		case <-deadline.C:
			t.Fatalf("timed out waiting for a log line with %q; log:\n%s", parts, l.String())
		}
	}
}

// runningAgent is an Agent whose Run goroutine the test controls.
type runningAgent struct {
	*agent.Agent
	logs   *logSink
	cancel context.CancelFunc
	done   chan error
}

// fastOptions make reconnects and heartbeats quick enough for tests.
var fastOptions = []agent.Option{agent.WithBackoff(10*time.Millisecond, 50*time.Millisecond), agent.WithHeartbeatInterval(50 * time.Millisecond),
	agent.WithRefusedRetry(20 * time.Millisecond)}

// startAgent runs an agent for cfg until the test ends (or stop).
func startAgent(t *testing.T, cfg *agent.Config, opts ...agent.Option) *runningAgent {
	t.Helper()
	logs := newLogSink()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := agent.New(cfg, logger, append(fastOptions, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningAgent{Agent: a, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	return r
}

// stop cancels Run and waits for it to return.
func (r *runningAgent) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

// plainConfig is an agent config for h on a plain TCP broker at addr.
func plainConfig(t *testing.T, h host, addr net.Addr) *agent.Config {
	return &agent.Config{
		HostID:       h.id,
		MQTTURL:      "mqtt://" + addr.String(),
		MQTTPassword: h.password,
		StateDir:     t.TempDir(),
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
