package agent

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// eventLog records what would go to the Windows Event Log (which cannot
// run here), one "level: message" per entry.
type eventLog struct {
	mu      sync.Mutex
	entries []string
}

func (e *eventLog) add(level string, v []any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entries = append(e.entries, level+": "+fmt.Sprint(v...))
	return nil
}

func (e *eventLog) Error(v ...any) error   { return e.add("error", v) }
func (e *eventLog) Warning(v ...any) error { return e.add("warning", v) }
func (e *eventLog) Info(v ...any) error    { return e.add("info", v) }
func (e *eventLog) Errorf(f string, v ...any) error {
	return e.add("error", []any{fmt.Sprintf(f, v...)})
}
func (e *eventLog) Warningf(f string, v ...any) error {
	return e.add("warning", []any{fmt.Sprintf(f, v...)})
}
func (e *eventLog) Infof(f string, v ...any) error {
	return e.add("info", []any{fmt.Sprintf(f, v...)})
}

func (e *eventLog) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.entries...)
}

func TestSystemLogHandlerSendsWarningsAndErrorsOnceAttached(t *testing.T) {
	var stderr bytes.Buffer
	h := SystemLogHandler(slog.NewTextHandler(&stderr, nil))
	logger := slog.New(h).With("host_id", "h1")
	logger.Warn("before the service starts", "n", 1)

	events := &eventLog{}
	if !attachSystemLog(h, events) {
		t.Fatal("a SystemLogHandler was not attached")
	}
	logger.Info("connected", "broker", "mqtts://x")
	logger.Warn("connection lost", "reason", "read: connection reset", "retry_in", "2s")
	logger.WithGroup("job").Error("restic failed", "id", "j1", "exit", 1)

	want := []string{
		`warning: connection lost host_id=h1 reason="read: connection reset" retry_in=2s`,
		`error: restic failed host_id=h1 job.id=j1 job.exit=1`,
	}
	if got := events.all(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("event log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Everything still reaches the agent's own log.
	for _, line := range []string{"before the service starts", "connected", "connection lost", "restic failed"} {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr.String())
		}
	}
	if attachSystemLog(slog.NewTextHandler(&stderr, nil), events) {
		t.Error("attached to a plain handler")
	}
}
