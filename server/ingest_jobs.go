package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// The ingest rules for job events and log batches (the writer applies them
// inside the batch's transaction):
//
//   - A message names a job by its wire id. An unknown job, or one that
//     belongs to another host, is refused — except that an event with an
//     Origin creates the job the agent started from a schedule, and a log
//     batch of an unknown job is deferred for a while (ingest_origin.go).
//   - An event applies when its version is above the job's and
//     topics.CheckTransition allows the move. The same (version, state)
//     again is a duplicate; a version at or below the job's is stale; a
//     move the state machine forbids is refused (a terminal state never
//     changes). Refused messages are acknowledged all the same: they can
//     never become acceptable, and unacknowledged they would come back
//     forever.
//   - The one exception: an event that jumps more than one version ahead
//     and cannot apply yet (e.g. "succeeded" while the job is still
//     "delivered": "running" is missing) is deferred — not acknowledged,
//     so the agent's outbox resends it after the missing one.
//   - Log lines insert by (job, line number); a resent batch adds nothing.
//     A batch that starts beyond the highest stored line + 1, or a terminal
//     event announcing more lines than are stored, asks the host to resend
//     its outbox (rate-limited per host).

// whyUnknownJob is the refusal of a message for a job the server does not
// know (a metrics label).
const whyUnknownJob = "unknown job"

// MaxJobLogLines bounds one job's log; lines numbered beyond are refused.
const MaxJobLogLines = 10_000_000

// batchWriter applies messages inside one batch's transaction. It caches
// the jobs it has read, so a batch of many log batches for one job reads
// the job once.
type batchWriter struct {
	s       *Service
	tx      *sqlx.Tx
	now     time.Time
	jobs    map[string]*ingestJob // by wire id
	logStmt *sqlx.Stmt            // the chunk insert (logInsert)
}

// logInsert is the batch's prepared INSERT of one log chunk (a chunk
// already stored, a resend, is skipped), prepared on first use in the
// batch.
func (w *batchWriter) logInsert(ctx context.Context) (*sqlx.Stmt, error) {
	if w.logStmt != nil {
		return w.logStmt, nil
	}
	st, err := w.tx.PreparexContext(ctx, `INSERT INTO job_log_chunks (job_id, first_n, last_n, t_first, body)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return nil, fmt.Errorf("prepare log insert: %w", err)
	}
	w.logStmt = st
	return st, nil
}

// ingestJob is what the ingest rules need to know about a job.
type ingestJob struct {
	ID       int64  `db:"id"`
	UID      string `db:"uid"`
	HostID   string `db:"host_id"`
	HostName string `db:"host_name"`
	Kind     string `db:"kind"`
	Status   string `db:"status"`
	Version  int64  `db:"version"`
	LogLines int64  `db:"log_lines"`
	LogMax   int64  `db:"log_max"`
	Preview  bool   `db:"preview"` // a dry-run forget
}

func (w *batchWriter) close() {
	if w.logStmt != nil {
		_ = w.logStmt.Close()
	}
}

// forget drops the cache after a savepoint was rolled back.
func (w *batchWriter) forget() { clear(w.jobs) }

// job loads the job uid for host; why is set when the message must be
// refused because of it.
func (w *batchWriter) job(ctx context.Context, host, uid string) (j *ingestJob, why string, err error) {
	j = w.jobs[uid]
	if j == nil {
		j = &ingestJob{}
		err = w.tx.GetContext(ctx, j, `SELECT j.id, j.uid, j.host_id, h.name AS host_name, j.kind, j.status, j.version,
			j.log_lines, j.log_max, (j.kind = 'forget' AND `+dialectOf(w.tx).jsonFlag(`j.spec`, `dry_run`)+` = 1) AS preview
			FROM jobs j JOIN hosts h ON h.id = j.host_id WHERE j.uid = ?`, uid)
		if isNoRows(err) {
			return nil, whyUnknownJob, nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("load job %s: %w", uid, err)
		}
		w.jobs[uid] = j
	}
	if j.HostID != host {
		return nil, "another host's job", nil
	}
	return j, "", nil
}

func (w *batchWriter) jobEvent(j *ingestJob) Event {
	return Event{Kind: EventJobUpdated, HostID: j.HostID, JobID: j.ID}
}

// applyEvent applies a job state transition.
func (w *batchWriter) applyEvent(ctx context.Context, host string, m *topics.JobEvent) (itemOutcome, error) {
	j, why, err := w.job(ctx, host, m.Job)
	if why == whyUnknownJob && m.Origin != nil {
		j, why, err = w.jobFromOrigin(ctx, host, m) // ingest_origin.go
	}
	if err != nil || why != "" {
		return rejected(why), err
	}
	cur := topics.JobState(j.Status)
	switch {
	case m.Version == j.Version && m.State == cur:
		return itemOutcome{verdict: verdictDuplicate}, nil
	case m.Version <= j.Version:
		return rejected("stale version"), nil
	}
	if err := topics.CheckTransition(cur, m.State); err != nil {
		if !cur.Terminal() && m.Version > j.Version+1 {
			return itemOutcome{verdict: verdictDeferred}, nil
		}
		return rejected("forbidden transition"), nil
	}
	at := m.At.UTC()
	var started, finished *time.Time
	var exitCode *int
	var reason, detail, snapshotID string
	var result *string
	var expected *uint64
	switch {
	case m.State == topics.JobRunning:
		started = &at
	case m.State.Terminal():
		r := m.Result
		finished, exitCode, reason, detail, snapshotID, expected = &at, r.ExitCode, r.Reason, r.Detail, r.SnapshotID, &r.LogLines
		if !r.StartedAt.IsZero() {
			t := r.StartedAt.UTC()
			started = &t
		}
		b, err := json.Marshal(r)
		if err != nil {
			return itemOutcome{}, fmt.Errorf("encode result: %w", err)
		}
		s := string(b)
		result = &s
	}
	_, err = w.tx.ExecContext(ctx, `UPDATE jobs SET status = ?, version = ?, updated_at = ?,
		delivered_at = COALESCE(delivered_at, ?), started_at = COALESCE(started_at, ?), finished_at = ?,
		exit_code = ?, reason = ?, detail = ?, snapshot_id = ?, result = ?, log_lines_expected = ? WHERE id = ?`,
		string(m.State), m.Version, w.now, at, started, finished, exitCode, reason, detail, snapshotID, result, expected, j.ID)
	if err != nil {
		return itemOutcome{}, fmt.Errorf("update job %d: %w", j.ID, err)
	}
	j.Status, j.Version = string(m.State), m.Version
	if m.State == topics.JobRunning || m.State.Terminal() {
		// Notifications go into their outbox in this transaction (notify_jobs.go).
		if err := w.s.notifyJobState(ctx, w.tx, j, m.State, reason, detail, snapshotID, at); err != nil {
			return itemOutcome{}, err
		}
	}
	o := itemOutcome{verdict: verdictStored, events: []Event{w.jobEvent(j)}}
	if m.State.Terminal() {
		o.events[0].Ended = true
		o.ended = &finishedJob{id: j.ID, uid: j.UID, hostID: j.HostID, hostName: j.HostName, kind: j.Kind, state: m.State,
			preview: j.Preview}
		o.resend = m.Result.LogLines > uint64(j.LogLines)
		if j.Kind == string(topics.JobInit) {
			changed, err := initEnded(ctx, w.tx, j.HostID, j.ID, m.State, reason, at, w.now)
			if err != nil {
				return itemOutcome{}, err
			}
			if changed {
				o.events = append(o.events, Event{Kind: EventRepositoryChanged, HostID: j.HostID})
			}
		}
		if err := statsEnded(ctx, w.tx, j, m.State, m.Result, at); err != nil { // ingest_stats.go
			return itemOutcome{}, err
		}
	}
	return o, nil
}

// applyLog stores a batch of log lines, each once: one chunk row for the
// batch, or, when it overlaps lines already stored (a resend cut
// differently), one for each run of it not stored yet.
func (w *batchWriter) applyLog(ctx context.Context, host string, m *topics.JobLog) (itemOutcome, error) {
	j, why, err := w.job(ctx, host, m.Job)
	if why == whyUnknownJob && w.s.unknownLogs.wait(m.Job, w.now) {
		return itemOutcome{verdict: verdictDeferred}, nil // its first event may be behind it (ingest_origin.go)
	}
	if err != nil || why != "" {
		return rejected(why), err
	}
	last := m.Last()
	if last > MaxJobLogLines {
		return rejected("log too long"), nil
	}
	runs := []lineRun{{m.First, last}}
	if m.First <= uint64(j.LogMax) {
		// Lines up to LogMax are stored: this batch may repeat some.
		if runs, err = w.newLogRuns(ctx, j.ID, m.First, last); err != nil {
			return itemOutcome{}, err
		}
	}
	st, err := w.logInsert(ctx)
	if err != nil {
		return itemOutcome{}, err
	}
	var inserted int64
	for _, r := range runs {
		c := encodeLogChunk(r.first, m.Lines[r.first-m.First:r.last-m.First+1])
		res, err := st.ExecContext(ctx, j.ID, c.First, c.Last, c.TFirst, c.Body)
		if err != nil {
			return itemOutcome{}, fmt.Errorf("insert log lines of job %d: %w", j.ID, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			inserted += int64(c.Last - c.First + 1)
		}
	}
	gap := m.First > uint64(j.LogMax)+1
	if inserted == 0 {
		return itemOutcome{verdict: verdictDuplicate}, nil
	}
	newMax := max(j.LogMax, int64(last))
	if _, err := w.tx.ExecContext(ctx, `UPDATE jobs SET log_lines = log_lines + ?, log_max = ? WHERE id = ?`,
		inserted, newMax, j.ID); err != nil {
		return itemOutcome{}, fmt.Errorf("count log lines of job %d: %w", j.ID, err)
	}
	j.LogLines += inserted
	j.LogMax = newMax
	return itemOutcome{verdict: verdictStored, resend: gap, events: []Event{{Kind: EventJobLog, HostID: j.HostID, JobID: j.ID}}}, nil
}

// lineRun is the log lines first..last.
type lineRun struct{ first, last uint64 }

// newLogRuns returns the runs of lines first..last that job has not
// stored, in order. Chunks never overlap and hold at most
// topics.MaxLogBatchLines lines, so those that may overlap start within
// that many lines before first.
func (w *batchWriter) newLogRuns(ctx context.Context, job int64, first, last uint64) ([]lineRun, error) {
	var stored []lineRun
	rows, err := w.tx.QueryContext(ctx, `SELECT first_n, last_n FROM job_log_chunks
		WHERE job_id = ? AND first_n > ? AND first_n <= ? AND last_n >= ? ORDER BY first_n`,
		job, int64(first)-topics.MaxLogBatchLines, last, first)
	if err != nil {
		return nil, fmt.Errorf("read stored log lines of job %d: %w", job, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r lineRun
		if err := rows.Scan(&r.first, &r.last); err != nil {
			return nil, fmt.Errorf("read stored log lines of job %d: %w", job, err)
		}
		stored = append(stored, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored log lines of job %d: %w", job, err)
	}
	return missingRuns(first, last, stored), nil
}

// missingRuns is first..last less the runs stored (in order, not
// overlapping one another).
func missingRuns(first, last uint64, stored []lineRun) []lineRun {
	var out []lineRun
	next := first
	for _, s := range stored {
		if s.first > next {
			out = append(out, lineRun{next, min(s.first-1, last)})
		}
		next = max(next, s.last+1)
		if next > last {
			return out
		}
	}
	return append(out, lineRun{next, last})
}
