package agent

import (
	"maps"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// Restore anywhere (#14) on the agent's side.
//
// A cross-host restore reads another host's repository: the server puts
// that repository (URL, password, backend env) into the run command, built
// from its sealed copy each time it sends the command. The agent keeps it
// in memory only, in the job, for this one job:
//
//   - the journal records the command without it (journalDetail), so
//     neither the journal file nor its rewrites ever hold it; the outbox,
//     the job log and the agent's own log never see it either (restic gets
//     it in its environment, like the host's own repository);
//   - after a restart the recovered job has no credentials: it waits at the
//     head of the queue (like a job waiting for its config) until the
//     server's resend after hello brings them (supplySource), or it expires.

// journalDetail is what the journal records for a run command: the payload
// as received, or, for a command carrying a source repository, the command
// re-encoded without it.
func journalDetail(c *topics.Command, payload []byte) ([]byte, error) {
	if c.SourceRepository == nil {
		return payload, nil
	}
	stripped := *c
	stripped.SourceRepository = nil
	return topics.Encode(&stripped)
}

// awaitsSource reports whether j is a cross-host restore whose source
// credentials are not in memory (it was recovered from the journal).
func (j *job) awaitsSource() bool {
	return j.cmd.Spec != nil && j.cmd.Spec.IsCrossHost() && j.cmd.SourceRepository == nil
}

// supplySource gives a waiting cross-host restore the credentials a resent
// run command brought, and wakes the worker. It reports whether a job took
// them.
func (q *jobQueue) supplySource(id string, repo *topics.RepositoryConfig) bool {
	if repo == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range q.waiting {
		if w.id == id && w.awaitsSource() {
			cmd := *w.cmd
			cmd.SourceRepository = repo
			w.cmd = &cmd
			q.wake()
			return true
		}
	}
	return false
}

// jobRepository is the repository j's restic runs against: the source
// host's for a cross-host restore, this host's otherwise (nil: none).
func (a *Agent) jobRepository(j *job) *restic.Repository {
	if j.cmd.Spec == nil || !j.cmd.Spec.IsCrossHost() {
		return a.desired.repository()
	}
	r := j.cmd.SourceRepository
	if r == nil {
		return nil
	}
	return &restic.Repository{URL: r.URL, Password: r.Password, Env: maps.Clone(r.Env)}
}

// restoreRefusal says why this host cannot run the restore spec asks for
// ("" when it can): an overwrite policy its restic does not have
// (topics.CheckOverwriteSupport), or a cross-host restore whose
// credentials are missing. restic never runs then.
func (a *Agent) restoreRefusal(j *job) string {
	spec := j.cmd.Spec
	if spec == nil || spec.Kind != topics.JobRestore {
		return ""
	}
	if err := topics.CheckOverwriteSupport(spec.Overwrite, a.resticVersion); err != nil {
		return err.Error()
	}
	if j.awaitsSource() {
		return "the source host's repository credentials did not arrive with the job (the agent keeps them in memory only and restarted); run the restore again"
	}
	return ""
}

// fitRestore leaves a default overwrite policy out of restic's command
// line when this host's restic has no --overwrite (before 0.17), so such a
// restic runs a default restore too; restoreRefusal has already refused a
// policy it cannot apply.
func (a *Agent) fitRestore(op *restic.Op) {
	if op.Kind == topics.JobRestore && !topics.ResticSupportsOverwrite(a.resticVersion) {
		op.Restore.Overwrite = ""
	}
}

// verifiedLine is the log line of a restore run with --verify that
// succeeded. restic's JSON output has no message of its own for the verify
// phase (0.18.1 prints none; its text mode prints "verifying files"), so
// the agent says it: restic exits non-zero when a file differs.
func verifiedLine(op restic.Op, res *restic.Result) string {
	if op.Kind != topics.JobRestore || !op.Restore.Verify || res.Outcome != restic.OutcomeSucceeded {
		return ""
	}
	return "verified: restic read every restored file back and found it as in the snapshot (--verify)"
}
