package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// ingestTag marks a backup job whose log is written at the ingest rate;
// any other job writes dispatchLogLines lines and ends.
const (
	ingestTag        = "loadgen-ingest"
	dispatchLogLines = 3
	maxSimSnapshots  = 50
)

// simJob is one job a simulated agent received.
type simJob struct {
	cmd      *topics.Command
	canceled atomic.Bool
	// version is the last version reported; only the agent's job goroutine
	// changes it after "delivered".
	version int64

	// Guarded by the agent's mu.
	finished, terminalAcked bool
	terminalState           topics.JobState
	terminalVersion         int64
	result                  *topics.JobResult

	recMu sync.Mutex
	rec   jobRecord
}

// jobRecord is what a child reports about one job: when the command came,
// when the server acknowledged (so had stored) "delivered" and the end.
// Times are Unix nanoseconds on this machine's clock, which the parent
// shares.
type jobRecord struct {
	UID         string `json:"uid"`
	Host        string `json:"host"`
	Kind        string `json:"kind"`
	RecvNS      int64  `json:"recv_ns"`
	DeliveredNS int64  `json:"delivered_ns"`
	DoneNS      int64  `json:"done_ns"`
	Lines       uint64 `json:"lines"`
}

func (j *simJob) setDeliveredAck(at time.Time) {
	j.recMu.Lock()
	j.rec.DeliveredNS = at.UnixNano()
	j.recMu.Unlock()
}

// jobRecords collects the records of jobs whose end the server stored.
type jobRecords struct {
	mu   sync.Mutex
	done []jobRecord
}

func (r *jobRecords) add(rec jobRecord) {
	r.mu.Lock()
	r.done = append(r.done, rec)
	r.mu.Unlock()
}

// take returns the records collected since the last take.
func (r *jobRecords) take() []jobRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.done
	r.done = nil
	return out
}

// runJobs runs the agent's jobs one at a time, in order, as the real
// agent's queue does.
func (a *simAgent) runJobs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-a.queue:
			a.runJob(ctx, j)
		}
	}
}

func (a *simAgent) runJob(ctx context.Context, j *simJob) {
	cmd := j.cmd
	switch {
	case j.canceled.Load():
		a.finish(j, topics.JobCanceled, &topics.JobResult{Reason: "Canceled before it started."})
		return
	case time.Now().After(cmd.ExpiresAt):
		a.finish(j, topics.JobExpired, &topics.JobResult{Reason: "The job expired before it could start."})
		return
	}
	// A job needs the config it names (e.g. an init its repository).
	for {
		a.mu.Lock()
		applied, changed := a.applied, a.configNew
		a.mu.Unlock()
		if applied >= cmd.ConfigVersion {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
	a.mu.Lock()
	a.running = cmd.Job
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = ""
		a.mu.Unlock()
	}()
	started := time.Now()
	j.version++
	a.sendEvent(j, j.version, topics.JobRunning, nil, nil)
	lines := uint64(0)
	var ok bool
	if p := a.fl.ingestParams(); cmd.Spec.Kind == topics.JobBackup && slices.Contains(cmd.Spec.Tags, ingestTag) && p.Flush == flushAgent {
		lines, ok = a.streamLogAsAgent(ctx, j, p)
	} else if cmd.Spec.Kind == topics.JobBackup && slices.Contains(cmd.Spec.Tags, ingestTag) {
		lines, ok = a.streamLog(ctx, j, p)
	} else {
		lines, ok = a.writeLog(j, 1, dispatchLogLines), true
	}
	if !ok {
		if ctx.Err() != nil {
			return // the run ends; the server sees the agent go
		}
		a.finish(j, topics.JobCanceled, &topics.JobResult{Reason: "Canceled while it ran.", LogLines: lines})
		return
	}
	exit := 0
	res := &topics.JobResult{ExitCode: &exit, ResticVersion: "0.18.1", StartedAt: started.UTC(),
		DurationMS: time.Since(started).Milliseconds(), LogLines: lines}
	switch cmd.Spec.Kind {
	case topics.JobInit:
		res.RepositoryID = randomHex(32)
	case topics.JobBackup:
		res.SnapshotID = randomHex(32)
		res.Backup = &topics.BackupSummary{FilesNew: 10, DataAdded: 1 << 20, TotalFilesProcessed: 100,
			TotalBytesProcessed: 10 << 20, TotalDuration: time.Since(started).Seconds()}
	}
	a.finish(j, topics.JobSucceeded, res)
	if res.SnapshotID != "" || cmd.Spec.Kind == topics.JobSnapshots || cmd.Spec.Kind == topics.JobForget {
		a.reportSnapshots(cmd, res.SnapshotID)
	}
}

// finish sends the terminal event and records when the server stored it.
func (a *simAgent) finish(j *simJob, state topics.JobState, res *topics.JobResult) {
	j.version++
	a.mu.Lock()
	j.finished, j.terminalState, j.terminalVersion, j.result = true, state, j.version, res
	a.mu.Unlock()
	j.recMu.Lock()
	j.rec.Lines = res.LogLines
	j.recMu.Unlock()
	a.sendEvent(j, j.version, state, res, func(at time.Time) {
		a.mu.Lock()
		j.terminalAcked = true
		a.mu.Unlock()
		j.recMu.Lock()
		j.rec.DoneNS = at.UnixNano()
		rec := j.rec
		j.recMu.Unlock()
		a.fl.records.add(rec)
	})
}

// event reports state with the job's next version; a terminal state
// already reported goes out again with its own version.
func (a *simAgent) event(j *simJob, state topics.JobState, res *topics.JobResult, onAck func(time.Time)) {
	a.mu.Lock()
	again := j.finished && state == j.terminalState
	v := j.terminalVersion
	a.mu.Unlock()
	if !again {
		if state == topics.JobDelivered {
			j.version++
		}
		v = j.version
	}
	a.sendEvent(j, v, state, res, onAck)
}

func (a *simAgent) sendEvent(j *simJob, version int64, state topics.JobState, res *topics.JobResult, onAck func(time.Time)) {
	seq := a.out.seq()
	ev := &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, a.id), Seq: seq, Job: j.cmd.Job,
		Version: version, State: state, At: time.Now().UTC(), Result: res}
	data, err := topics.Encode(ev)
	if err != nil {
		a.warn("encode event: %v", err)
		return
	}
	a.out.add(a.currentClient(), seq, topics.JobEventTopic(a.id, j.cmd.Job), data, onAck)
}

// streamLog writes p.Rate lines a second for p.Seconds, in batches as the
// agent flushes them (every second, at most 32 KiB and 4096 lines each),
// with a progress message a second. It returns the last line number and
// false when the job was canceled or ctx ended.
func (a *simAgent) streamLog(ctx context.Context, j *simJob, p ingestParams) (uint64, bool) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	next := uint64(1)
	seconds := int(p.Seconds / time.Second)
	for s := 0; s < seconds; s++ {
		select {
		case <-ctx.Done():
			return next - 1, false
		case <-tick.C:
		}
		if j.canceled.Load() {
			return next - 1, false
		}
		next = a.writeLog(j, next, p.Rate) + 1
		a.progress(j, float64(s+1)*100/float64(seconds), time.Since(start))
	}
	return next - 1, true
}

// How an ingest job's log goes out (--ingest-flush).
const (
	// flushSecond: each second's lines at once, on a ticker started with
	// the job. Jobs started together flush in step, all in the same few
	// tens of milliseconds: a worst case.
	flushSecond = "second"
	// flushAgent: as agent/job_log.go sends restic's output — lines come
	// evenly, a batch goes as soon as the agent's budget is full (each
	// line's text plus agentLineOverhead, topics.MaxLogBatchBytes, or
	// topics.MaxLogBatchLines lines), whatever is left on the job's own
	// one-second tick.
	flushAgent = "agent"
	// agentLineOverhead is agent/job_log.go's logLineOverhead.
	agentLineOverhead = 64
)

// agentBudget counts the lines waiting in a job's log as agent/job_log.go
// does: full once their texts plus agentLineOverhead each reach
// topics.MaxLogBatchBytes, or topics.MaxLogBatchLines lines wait.
type agentBudget struct{ bytes, lines int }

// add counts one more line of text length n and reports whether the agent
// sends the waiting lines now; sent starts the count again.
func (b *agentBudget) add(n int) (full bool) {
	b.bytes += n + agentLineOverhead
	b.lines++
	return b.bytes >= topics.MaxLogBatchBytes || b.lines >= topics.MaxLogBatchLines
}

func (b *agentBudget) sent() { *b = agentBudget{} }

// streamLogAsAgent is streamLog for flushAgent: p.Rate lines a second come
// in every 10 ms and go out as the agent sends them. Progress goes once a
// second, as in streamLog.
func (a *simAgent) streamLogAsAgent(ctx context.Context, j *simJob, p ingestParams) (uint64, bool) {
	const step = 10 * time.Millisecond
	tick := time.NewTicker(step)
	defer tick.Stop()
	start := time.Now()
	seconds := int(p.Seconds / time.Second)
	total := uint64(p.Rate) * uint64(seconds)
	next, first := uint64(1), uint64(1) // the next line to come; the first not sent
	var budget agentBudget
	ticks := 0 // the job's one-second ticks so far
	send := func() {
		if next > first {
			a.writeLog(j, first, int(next-first))
			first = next
		}
		budget.sent()
	}
	for next <= total {
		select {
		case <-ctx.Done():
			return first - 1, false
		case <-tick.C:
		}
		if j.canceled.Load() {
			return first - 1, false
		}
		elapsed := time.Since(start)
		for due := min(total, uint64(float64(p.Rate)*elapsed.Seconds())); next <= due; {
			full := budget.add(len(logText(j.cmd.Job, next, a.fl.lineBytes)))
			next++
			if full {
				send()
			}
		}
		if s := int(elapsed / time.Second); s > ticks {
			ticks = s
			send()
			a.progress(j, float64(min(s, seconds))*100/float64(seconds), elapsed)
		}
	}
	send()
	return total, true
}

// writeLog sends n lines numbered from first and returns the last number.
func (a *simAgent) writeLog(j *simJob, first uint64, n int) uint64 {
	now := time.Now().UTC()
	var batch []topics.LogLine
	size := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		seq := a.out.seq()
		m := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, a.id), Seq: seq, Job: j.cmd.Job,
			First: first, Lines: batch}
		if data, err := topics.Encode(m); err != nil {
			a.warn("encode log: %v", err)
		} else {
			a.out.add(a.currentClient(), seq, topics.JobLogTopic(a.id, j.cmd.Job), data, nil)
		}
		first += uint64(len(batch))
		batch, size = nil, 0
	}
	last := first + uint64(n) - 1
	for num := first; num <= last; num++ {
		text := logText(j.cmd.Job, num, a.fl.lineBytes)
		if size+len(text) > topics.MaxLogBatchBytes || len(batch) == topics.MaxLogBatchLines {
			flush()
		}
		batch = append(batch, topics.LogLine{T: now, Stream: topics.StreamStdout, Text: text})
		size += len(text)
	}
	flush()
	return last
}

// logText is line num of a job's log: "loadgen j_… line N", padded to
// width bytes. The ingest check reads the number back from the stored log.
func logText(job string, num uint64, width int) string {
	s := fmt.Sprintf("loadgen %s line %d", job, num)
	if pad := width - len(s); pad > 0 {
		s += " " + strings.Repeat("x", pad-1)
	}
	return s
}

func (a *simAgent) progress(j *simJob, percent float64, elapsed time.Duration) {
	client := a.currentClient()
	if client == nil {
		return // progress is dropped while offline
	}
	m := &topics.JobProgress{Envelope: topics.NewEnvelope(topics.TypeJobProgress, a.id), Job: j.cmd.Job,
		Percent: min(percent, 100), ETASeconds: -1, ElapsedSeconds: int64(elapsed.Seconds())}
	if data, err := topics.Encode(m); err == nil {
		client.Publish(topics.JobProgressTopic(a.id, j.cmd.Job), 0, false, data)
	}
}

// reportSnapshots sends the host's snapshot list (the newest
// maxSimSnapshots, one part) after a job that changed or listed it.
func (a *simAgent) reportSnapshots(cmd *topics.Command, newID string) {
	now := time.Now().UTC()
	a.mu.Lock()
	if newID != "" {
		a.snapshots = append(a.snapshots, topics.SnapshotInfo{ID: newID, Time: now, Hostname: "loadgen", Username: "root",
			Paths: cmd.Spec.Paths, Tags: cmd.Spec.Tags, DataAdded: 1 << 20, TotalFilesProcessed: 100, TotalBytesProcessed: 10 << 20})
		if len(a.snapshots) > maxSimSnapshots {
			a.snapshots = a.snapshots[len(a.snapshots)-maxSimSnapshots:]
		}
	}
	list := slices.Clone(a.snapshots)
	a.mu.Unlock()
	seq := a.out.seq()
	m := &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, a.id), Seq: seq,
		Report: topics.NewMessageID(), Part: 1, Parts: 1, TakenAt: now, Job: cmd.Job, Snapshots: list}
	data, err := topics.Encode(m)
	if err != nil {
		a.warn("encode snapshots: %v", err)
		return
	}
	a.out.add(a.currentClient(), seq, topics.SnapshotsTopic(a.id), data, nil)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
