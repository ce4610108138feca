package agent

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// Log batching: a batch goes out every logFlushEvery, or sooner once the
// lines waiting reach topics.MaxLogBatchBytes. Each line counts its text
// plus logLineOverhead towards that budget, which keeps a batch of many
// short lines well inside topics.MaxPayload once encoded.
const (
	logFlushEvery   = time.Second
	logLineOverhead = 64
)

// maxLogBuffer bounds the lines waiting for a flush. Flushes keep up with
// anything restic prints unless the disk stalls; then lines beyond are
// dropped, counted and announced in the log, rather than growing the
// agent's memory without end.
const maxLogBuffer = 8 << 20

// droppedNote is the agent's log line in place of lines a full outbox
// refused.
const droppedNote = "%d log lines were dropped here: the agent's outbox was full because the server had not acknowledged what the agent sent"

// jobLog collects a job's log lines (restic's stdout and stderr, and the
// agent's own words) and stores them in the outbox in batches
// (topics.JobLog).
//
// Lines are numbered when they are stored, from 1 per job, so the numbers
// have no gaps even when the outbox refuses a batch because it is full
// (the server has not acknowledged for a long time): such lines are
// dropped, counted, and the next stored batch starts with an agent line
// saying how many were lost. After each stored batch the journal records
// the last number (Journal.Update), so that after a crash the agent goes
// on numbering where it stopped.
type jobLog struct {
	a   *Agent
	job *job

	mu       sync.Mutex
	buf      []topics.LogLine
	bufBytes int
	overflow int // lines dropped because buf was full
	full     chan struct{}

	// flushMu serialises flushes; it guards the fields below.
	flushMu sync.Mutex
	next    uint64 // number of the next line stored
	dropped int    // lines dropped since the last stored batch
}

func newJobLog(a *Agent, j *job, next uint64) *jobLog {
	return &jobLog{a: a, job: j, next: next, full: make(chan struct{}, 1)}
}

// add queues one line. It never blocks on the disk: restic's output waits
// while it runs.
func (l *jobLog) add(stream, text string) {
	text = clipLogLine(text)
	l.mu.Lock()
	if l.bufBytes < maxLogBuffer {
		l.buf = append(l.buf, topics.LogLine{T: time.Now().UTC(), Stream: stream, Text: text})
		l.bufBytes += len(text) + logLineOverhead
	} else {
		l.overflow++
	}
	over := l.bufBytes >= topics.MaxLogBatchBytes || len(l.buf) >= topics.MaxLogBatchLines
	l.mu.Unlock()
	if over {
		select {
		case l.full <- struct{}{}:
		default:
		}
	}
}

// agentf adds a line in the agent's own words (stream "agent").
func (l *jobLog) agentf(format string, args ...any) {
	l.add(topics.StreamAgent, fmt.Sprintf(format, args...))
}

// resticStarted is restic.Op.OnStart: one line before each restic run's
// output, with the restic version and the command line (no secrets in
// it), e.g. "restic 0.18.1: backup --json --limit-upload=4096 -- /srv/data".
// Without it a backup's log stays empty until restic's summary.
func (l *jobLog) resticStarted(args []string) {
	l.agentf("restic %s: %s", cmp.Or(l.a.resticVersion, "(version unknown)"), commandLine(args))
}

// commandLine joins args with spaces, quoting those that are empty or
// hold a space, a quote or a backslash, so that the line reads as it
// would be typed.
func commandLine(args []string) string {
	quoted := make([]string, len(args))
	for i, arg := range args {
		if arg == "" || strings.ContainsAny(arg, " \t\"'\\") {
			arg = strconv.Quote(arg)
		}
		quoted[i] = arg
	}
	return strings.Join(quoted, " ")
}

// resticLine is restic.Op.OnLine: restic's stdout and stderr.
func (l *jobLog) resticLine(stream restic.Stream, line string) {
	s := topics.StreamStdout
	if stream == restic.StreamStderr {
		s = topics.StreamStderr
	}
	l.add(s, line)
}

// pump flushes every logFlushEvery, and at once when a batch is full,
// until stop is closed.
func (l *jobLog) pump(stop <-chan struct{}) {
	tick := time.NewTicker(logFlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		case <-l.full:
		}
		l.flush()
	}
}

// startPump runs pump in a goroutine; the returned function stops it and
// waits for it.
func (l *jobLog) startPump() (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		l.pump(done)
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// flush stores every queued line, in batches.
func (l *jobLog) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	lines := l.buf
	if l.overflow > 0 {
		lines = append(lines, topics.LogLine{T: time.Now().UTC(), Stream: topics.StreamAgent,
			Text: fmt.Sprintf("%d log lines were dropped here: restic printed faster than the agent could store its output", l.overflow)})
	}
	l.buf, l.bufBytes, l.overflow = nil, 0, 0
	l.mu.Unlock()
	for len(lines) > 0 {
		var note []topics.LogLine
		if l.dropped > 0 {
			note = []topics.LogLine{{T: time.Now().UTC(), Stream: topics.StreamAgent, Text: fmt.Sprintf(droppedNote, l.dropped)}}
		}
		n := batchLen(lines, logLineOverhead*len(note)+len(noteText(note)))
		batch := append(note, lines[:n]...)
		lines = lines[n:]
		if err := l.store(batch); err != nil {
			switch {
			case !errors.Is(err, outbox.ErrFull):
				l.a.log.Error("cannot store job log lines; they are dropped", "job", l.job.id, "lines", n, "err", err)
			case l.dropped == 0:
				l.a.log.Warn("the outbox is full: dropping the job's log lines until the server acknowledges; the log will say how many", "job", l.job.id)
			}
			l.dropped += n
			continue
		}
		l.dropped = 0
	}
}

// store puts one batch into the outbox and records the last line number.
func (l *jobLog) store(batch []topics.LogLine) error {
	msg := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, l.a.cfg.HostID), Job: l.job.id, First: l.next, Lines: batch}
	_, err := l.a.store(outbox.KindLog, topics.JobLogTopic(l.a.cfg.HostID, l.job.id), func(seq uint64) ([]byte, error) {
		msg.Seq = seq
		return topics.Encode(msg)
	})
	if err != nil {
		return err
	}
	l.next += uint64(len(batch))
	if err := l.job.saveState(l.next - 1); err != nil {
		l.a.log.Warn("cannot record the job's log position in the journal", "job", l.job.id, "err", err)
	}
	return nil
}

// lastLine is the number of the last stored line (0: none), after a
// final flush the job's LogLines. If lines were dropped and never
// announced, the count is returned too, so the result can say so.
func (l *jobLog) lastLine() (last uint64, unannounced int) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.next - 1, l.dropped
}

// batchLen is how many of lines fit in one batch whose budget is already
// used by used bytes: at least one, at most topics.MaxLogBatchLines.
func batchLen(lines []topics.LogLine, used int) int {
	n := 0
	for n < len(lines) && n < topics.MaxLogBatchLines-1 {
		used += len(lines[n].Text) + logLineOverhead
		if n > 0 && used > topics.MaxLogBatchBytes {
			break
		}
		n++
	}
	return max(n, 1)
}

func noteText(note []topics.LogLine) string {
	if len(note) == 0 {
		return ""
	}
	return note[0].Text
}

// clipLogLine makes text a valid log line: UTF-8, at most
// topics.MaxLogLine bytes.
func clipLogLine(text string) string { return clipUTF8(text, topics.MaxLogLine, " [clipped]") }
