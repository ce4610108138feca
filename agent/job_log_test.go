package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/topics"
)

// stateForTest opens an agent's job state in a temp dir, without a
// connection, and journals one job for it.
func stateForTest(t *testing.T, opts ...Option) (*Agent, *job) {
	t.Helper()
	cfg := &Config{HostID: topics.RandomID(topics.HostIDPrefix), MQTTURL: "mqtt://127.0.0.1:1", MQTTPassword: "pw", StateDir: t.TempDir()}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.openJobState(context.Background(), "0.18.1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.closeJobState)
	c := &topics.Command{Envelope: topics.NewEnvelope(topics.TypeCmd, cfg.HostID), Action: topics.CmdRun,
		Job: topics.RandomID(topics.JobIDPrefix), Version: 1, ExpiresAt: time.Now().Add(time.Hour), Spec: &topics.JobSpec{Kind: topics.JobCheck}}
	if _, err := a.journal.Begin(c.Job, nil); err != nil {
		t.Fatal(err)
	}
	return a, a.newJob(c, 2)
}

// storedLog decodes the log batches in the outbox, checking each against
// the wire's rules, and returns the lines in order.
func storedLog(t *testing.T, a *Agent) []topics.LogLine {
	t.Helper()
	entries, err := a.outbox.Pending(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines []topics.LogLine
	for _, e := range entries {
		if e.Kind != outbox.KindLog {
			continue
		}
		var l topics.JobLog
		if err := topics.DecodeFrom(e.Payload, a.cfg.HostID, &l); err != nil {
			t.Fatalf("stored batch: %v", err)
		}
		if l.Seq != e.Seq || l.First != uint64(len(lines))+1 {
			t.Fatalf("batch seq %d (entry %d) starts at line %d after %d lines", l.Seq, e.Seq, l.First, len(lines))
		}
		if len(e.Payload) > topics.MaxPayload {
			t.Fatalf("batch of %d bytes", len(e.Payload))
		}
		lines = append(lines, l.Lines...)
	}
	return lines
}

func TestJobLogBatchesAndNumbers(t *testing.T) {
	a, j := stateForTest(t)
	for i := range 3000 {
		j.log.add(topics.StreamStdout, strings.Repeat("x", i%200))
	}
	j.log.add(topics.StreamStderr, strings.Repeat("é", topics.MaxLogLine)) // 2 bytes each: clipped
	j.log.add(topics.StreamAgent, "bad \xff utf-8")
	j.log.flush()
	lines := storedLog(t, a)
	if len(lines) != 3002 {
		t.Fatalf("%d lines stored", len(lines))
	}
	clipped := lines[3000].Text
	if len(clipped) > topics.MaxLogLine || !utf8.ValidString(clipped) || !strings.HasSuffix(clipped, "[clipped]") {
		t.Fatalf("long line: %d bytes, valid %v", len(clipped), utf8.ValidString(clipped))
	}
	if lines[3001].Text != "bad \uFFFD utf-8" || lines[3001].Stream != topics.StreamAgent {
		t.Fatalf("last line %+v", lines[3001])
	}
	if last, dropped := j.log.lastLine(); last != 3002 || dropped != 0 {
		t.Fatalf("lastLine = %d, %d", last, dropped)
	}
	// The journal knows how far the log got.
	r, _ := a.journal.Lookup(j.id)
	var st jobRecordState
	if err := json.Unmarshal(r.State, &st); err != nil || st.LogLines != 3002 {
		t.Fatalf("journal state %s: %v", r.State, err)
	}
}

func TestJobLogFullOutboxCountsDroppedLines(t *testing.T) {
	a, j := stateForTest(t, WithOutboxLimits(16<<10, 32<<10))
	account := func(want int) {
		t.Helper()
		lines := storedLog(t, a) // also checks numbering: no gaps
		kept, announced := 0, 0
		for _, l := range lines {
			if n, ok := strings.CutSuffix(l.Text, strings.TrimPrefix(droppedNote, "%d")); ok && l.Stream == topics.StreamAgent {
				var count int
				if err := json.Unmarshal([]byte(n), &count); err != nil {
					t.Fatalf("note %q", l.Text)
				}
				announced += count
				continue
			}
			kept++
		}
		_, unannounced := j.log.lastLine()
		if kept+announced+unannounced != want || kept == want {
			t.Fatalf("of %d lines %d were stored, %d announced as dropped, %d not yet announced", want, kept, announced, unannounced)
		}
	}
	for range 1000 {
		j.log.add(topics.StreamStdout, strings.Repeat("y", 100))
	}
	j.log.flush()
	account(1000)

	// The server acknowledges everything: what comes next is stored, after
	// a note for anything dropped and not yet announced.
	if err := a.outbox.AckThrough(a.outbox.HighWater()); err != nil {
		t.Fatal(err)
	}
	_, unannounced := j.log.lastLine()
	j.log.add(topics.StreamStdout, "later")
	j.log.flush()
	entries, _ := a.outbox.Pending(0, 0)
	var l topics.JobLog
	if len(entries) != 1 || topics.DecodeFrom(entries[0].Payload, a.cfg.HostID, &l) != nil {
		t.Fatalf("after the ack: %d entries", len(entries))
	}
	if l.Lines[len(l.Lines)-1].Text != "later" || (unannounced > 0) != (len(l.Lines) == 2) {
		t.Fatalf("batch after the ack (%d unannounced): %+v", unannounced, l)
	}
	if _, dropped := j.log.lastLine(); dropped != 0 {
		t.Fatalf("%d dropped lines still unannounced", dropped)
	}
}

func TestJobLogBufferOverflowIsCounted(t *testing.T) {
	a, j := stateForTest(t)
	line := strings.Repeat("o", topics.MaxLogLine)
	n := maxLogBuffer/(len(line)+logLineOverhead) + 1 // the buffer is full after these
	for range n + 5 {
		j.log.add(topics.StreamStdout, line)
	}
	j.log.flush()
	lines := storedLog(t, a)
	last := lines[len(lines)-1]
	if len(lines) != n+1 || last.Stream != topics.StreamAgent || !strings.HasPrefix(last.Text, "5 log lines were dropped here: restic printed faster") {
		t.Fatalf("%d lines stored, last %q", len(lines), last.Text[:min(80, len(last.Text))])
	}
}

func TestCommandLineQuotesWhatNeedsIt(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--json", "--limit-upload=4096", "--", "/srv/data"}, "backup --json --limit-upload=4096 -- /srv/data"},
		{[]string{"backup", "--", "/srv/my data", `C:\x`, ""}, `backup -- "/srv/my data" "C:\\x" ""`},
		{[]string{"backup", "--tag=it's"}, `backup "--tag=it's"`},
	} {
		if got := commandLine(c.args); got != c.want {
			t.Errorf("commandLine(%q) = %s, want %s", c.args, got, c.want)
		}
	}
}
