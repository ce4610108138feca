package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent"
	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/topics"
)

// floodingRestic writes a stand-in for restic that floods its output and
// then waits for release to exist: the real restic cannot be made to print
// 200 KB of log on demand. `version` answers like restic.
func floodingRestic(t *testing.T, release string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in restic is a shell script")
	}
	path := filepath.Join(t.TempDir(), "restic")
	script := `#!/bin/sh
if [ "$1" = version ]; then echo "restic 0.18.1 compiled with go1.24 on linux/amd64"; exit 0; fi
i=0
while [ $i -lt 2000 ]; do
  echo "flood line $i ........................................................................................"
  i=$((i+1))
done
n=0
while [ ! -e '` + release + `' ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done
echo "after the flood"
`
	agenttest.WriteExecutable(t, path, script)
	return path
}

// A full outbox (the server stopped acknowledging) refuses log lines,
// which are counted and announced in the log once there is room again,
// while state changes wait for room and are never lost.
func TestFullOutboxDropsLogLinesButKeepsEvents(t *testing.T) {
	e := newJobEnv(t)
	release := filepath.Join(t.TempDir(), "release")
	e.cfg.ResticBinary = floodingRestic(t, release)
	a := e.start(agent.WithOutboxLimits(32<<10, 64<<10))
	e.configure()
	e.srv.setWithhold(true)

	flood := e.srv.run(topics.JobSpec{Kind: topics.JobCheck}, 1)
	a.logs.waitFor(t, "dropping the job's log lines", flood)
	// Jobs queued behind it fill the rest with events, until storing one
	// has to wait.
	missing := filepath.Join(t.TempDir(), "missing")
	var queued []string
	for range 150 {
		queued = append(queued, e.srv.run(topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Target: missing}, 1))
	}
	a.logs.waitFor(t, "the outbox is full: waiting for the server to acknowledge")

	e.srv.setWithhold(false)
	// Let the events waiting for room reach the server before the flood ends.
	for _, job := range queued {
		e.srv.waitState(job, topics.JobDelivered)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ev := e.srv.waitTerminal(flood)
	if ev.State != topics.JobSucceeded {
		t.Fatalf("flood job: %+v %+v", ev, ev.Result)
	}
	lines := e.srv.waitLogComplete(flood)
	text := logText(lines)
	// The dropped lines are announced: in the log, where the next stored
	// batch begins with a note; or, when the outbox was still full at the
	// job's final flush (the acks race the end of the job), in the result,
	// which then says the tail of the log was dropped.
	note := strings.Index(text, "log lines were dropped here: the agent's outbox was full")
	inLog := note >= 0 && strings.Contains(text[note:], "out: after the flood")
	inResult := strings.Contains(ev.Result.Detail, "dropped because the agent's outbox was full")
	if !(inLog || inResult) || uint64(len(lines)) != ev.Result.LogLines {
		t.Fatalf("flood log (%d lines, result says %d; detail %q):\n%s", len(lines), ev.Result.LogLines, ev.Result.Detail, text[max(0, len(text)-2000):])
	}
	for _, job := range queued {
		if ev := e.srv.waitTerminal(job); ev.State != topics.JobFailed {
			t.Fatalf("queued job: %+v %+v", ev, ev.Result)
		}
	}
}

// When the agent died after storing a job's result but before journaling
// it, the next start takes the stored result as the outcome instead of
// reporting the job interrupted; a duplicate run is answered with it.
func TestRecoveryKeepsAResultStoredBeforeACrash(t *testing.T) {
	e := newJobEnv(t)
	cmd := e.srv.runCommand(topics.JobSpec{Kind: topics.JobSnapshots}, 0)
	cmdJSON, err := topics.Encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	// The state a crash at that moment leaves: journal says started, the
	// outbox holds the log and the result.
	j, err := outbox.OpenJournal(filepath.Join(e.cfg.StateDir, "journal"), outbox.JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Begin(cmd.Job, cmdJSON)
	j.Update(cmd.Job, []byte(`{"started_at":"2026-01-02T03:04:05Z","log_lines":1}`))
	j.Close()
	ob, err := outbox.Open(filepath.Join(e.cfg.StateDir, "outbox"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	appendMsg := func(kind outbox.Kind, topic string, msg topics.Payload, setSeq func(uint64)) {
		t.Helper()
		if _, err := ob.AppendWith(kind, topic, func(seq uint64) ([]byte, error) { setSeq(seq); return topics.Encode(msg) }); err != nil {
			t.Fatal(err)
		}
	}
	logMsg := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, e.h.id), Job: cmd.Job, First: 1,
		Lines: []topics.LogLine{{T: now, Stream: topics.StreamStdout, Text: "one"}, {T: now, Stream: topics.StreamStdout, Text: "two"}}}
	appendMsg(outbox.KindLog, topics.JobLogTopic(e.h.id, cmd.Job), logMsg, func(s uint64) { logMsg.Seq = s })
	code := 0
	result := &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, e.h.id), Job: cmd.Job, Version: 4,
		State: topics.JobSucceeded, At: now, Result: &topics.JobResult{ExitCode: &code, LogLines: 2}}
	appendMsg(outbox.KindResult, topics.JobEventTopic(e.h.id, cmd.Job), result, func(s uint64) { result.Seq = s })
	ob.Close()

	e.start()
	ev := e.srv.waitTerminal(cmd.Job)
	if ev.State != topics.JobSucceeded || ev.Version != 4 {
		t.Fatalf("recovered job: %+v", ev)
	}
	if lines := e.srv.waitLogComplete(cmd.Job); len(lines) != 2 {
		t.Fatalf("log %v", lines)
	}
	e.srv.send(topics.CmdTopic(e.h.id), cmd)
	e.srv.waitUntil("the recorded result sent again", func() bool { return len(e.srv.eventsLocked(cmd.Job)) == 2 })
	for _, ev := range e.srv.jobEvents(cmd.Job) {
		if ev.State != topics.JobSucceeded || ev.Version != 4 {
			data, _ := json.Marshal(ev)
			t.Fatalf("event %s", data)
		}
	}
}
