package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// job is one run command the agent has journaled and not yet finished.
//
// Versions: the server's command carries the job's version there
// (Command.Version, 1 for a queued job); each event the agent sends
// carries the next one. So a job that runs reports delivered = V+1,
// running = V+2 and its terminal state = V+3; one that ends before restic
// runs (expired, canceled while waiting, failed before restic) reports its
// terminal state right after delivered. After a restart the numbers are
// derived again from V and whether restic had started, never stored: a
// job queued again goes on with running = V+2, one that was running is
// reported interrupted = V+3. The server accepts any higher version for
// an allowed transition, so a lost delivered event costs nothing.
type job struct {
	a   *Agent
	id  string
	cmd *topics.Command
	// origin is set for a job the agent started from a schedule; every
	// event of it carries it.
	origin *topics.JobOrigin
	// version is the version the next event carries.
	version int64
	ctx     context.Context
	cancel  context.CancelFunc
	log     *jobLog
	// startedAt is when restic's turn came (zero until then); recorded in
	// the journal before restic starts.
	startedAt time.Time
	// canceled is set when the server asked to cancel the job, to tell a
	// cancel from the agent stopping (interrupted).
	canceled atomic.Bool
	// waitLogged is set once "waiting for config" is in the log (guarded
	// by the queue's lock).
	waitLogged bool
}

// newJob makes the in-memory job for a journaled command; its first event
// carries version.
func (a *Agent) newJob(c *topics.Command, version int64) *job {
	ctx, cancel := context.WithCancel(a.stopping)
	j := &job{a: a, id: c.Job, cmd: c, version: version, ctx: ctx, cancel: cancel}
	j.log = newJobLog(a, j, 1)
	return j
}

// jobRecordState is what the journal keeps about an unfinished job
// (Journal.Update), to recover it after a crash: whether restic had
// started, and how many log lines were stored.
type jobRecordState struct {
	StartedAt time.Time `json:"started_at,omitzero"`
	LogLines  uint64    `json:"log_lines,omitempty"`
}

// decodeJobRecordState reads a journal state written by saveState. Empty
// means nothing was recorded yet.
func decodeJobRecordState(data []byte) (jobRecordState, error) {
	var st jobRecordState
	if len(data) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return jobRecordState{}, fmt.Errorf("job state in the journal: %w", err)
	}
	if st.LogLines > 1<<53 {
		return jobRecordState{}, fmt.Errorf("job state in the journal: log line count %d out of range", st.LogLines)
	}
	return st, nil
}

// saveState records the job's state in the journal, durably.
func (j *job) saveState(logLines uint64) error {
	data, err := json.Marshal(jobRecordState{StartedAt: j.startedAt, LogLines: logLines})
	if err != nil {
		return err
	}
	return j.a.journal.Update(j.id, data)
}

// expired reports whether a run command's expires_at has passed.
func expired(c *topics.Command) bool { return !time.Now().Before(c.ExpiresAt) }

func expiredReason(c *topics.Command) string {
	return fmt.Sprintf("the job expired at %s before it could start; restic did not run", c.ExpiresAt.UTC().Format(time.RFC3339))
}
