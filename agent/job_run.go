package agent

import (
	"fmt"
	"runtime"
	"time"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// Reasons the agent gives for jobs it reports interrupted.
const (
	reasonAgentStopped = "the agent was stopped while restic ran (service stop or shutdown); restic was stopped gracefully"
	reasonAgentDied    = "the agent stopped while restic ran (it was killed, crashed, or the machine went down)"
)

// runJob runs one job whose turn has come: it records in the journal that
// restic starts (so a crash from here on is reported interrupted, never
// run again), reports running, clears a stale lock if one may exist, runs
// restic and reports the outcome. If the job changed the snapshots, the
// worker lists them afterwards (listSnapshotsIfDue).
func (a *Agent) runJob(j *job) {
	reason := a.restoreRefusal(j)
	var op restic.Op
	if reason == "" {
		op, reason = opFor(j.cmd.Spec, a.jobRepository(j), a.desired.bandwidth())
		a.fitRestore(&op)
	}
	if reason != "" {
		a.finishWithoutRestic(j, topics.JobFailed, reason)
		return
	}
	if j.ctx.Err() != nil {
		if j.canceled.Load() {
			a.finishWithoutRestic(j, topics.JobCanceled, "canceled before it started; restic did not run")
		}
		// Otherwise the agent is stopping: the job stays journaled and
		// unstarted, and the next start queues it again.
		return
	}
	j.startedAt = time.Now().UTC()
	last, _ := j.log.lastLine()
	if err := j.saveState(last); err != nil {
		// Without the record a crash could run the job twice.
		a.finishWithoutRestic(j, topics.JobFailed, fmt.Sprintf("the agent cannot record in its journal that the job starts (%v): check the state directory's disk", err))
		return
	}
	if _, err := a.emit(j, topics.JobRunning, nil); err != nil {
		a.log.Error("cannot store the running event", "job", j.id, "err", err)
	}
	stopPump := j.log.startPump()
	hooks := a.hooksFor(j)
	var state topics.JobState
	var result *topics.JobResult
	if pre := a.runHook(j.ctx, j, topics.PreHook, hooks.pre, hooks.env); pre.failed() {
		state, result = a.preHookFailed(j, pre, hooks.pre.Timeout)
	} else if op.Kind == topics.JobDrill {
		state, result = a.runDrill(j, op) // several restic runs (job_drill.go)
	} else {
		state, result = a.runRestic(j, op)
	}
	a.runPostHook(j, hooks, state, result)
	stopPump()
	a.finishJob(j, state, result)
}

// runRestic runs the job's restic operation (after a stale-lock unlock if
// one is due) and returns the job's terminal state and result.
func (a *Agent) runRestic(j *job, op restic.Op) (topics.JobState, *topics.JobResult) {
	stopProgress := a.startProgress(j, &op)
	a.unlockIfStale(j, op)
	op.OnLine, op.OnStart = j.log.resticLine, j.log.resticStarted
	res, err := a.runner.Run(j.ctx, op)
	stopProgress()
	if err != nil {
		a.log.Error("restic could not run", "job", j.id, "err", err)
		return topics.JobFailed, &topics.JobResult{Reason: clipResultText("restic could not be started: " + err.Error()),
			StartedAt: j.startedAt}
	}
	for _, line := range summaryLines(res) {
		j.log.agentf("%s", line)
	}
	if line := verifiedLine(op, res); line != "" {
		j.log.agentf("%s", line)
	}
	if killedRestic(res) {
		a.staleLock.set(fmt.Sprintf("restic was killed during job %s (%s)", j.id, res.Reason))
	}
	if op.Kind == topics.JobUnlock && res.Outcome == restic.OutcomeSucceeded {
		a.staleLock.clear()
	}
	result := jobResult(res, j.startedAt)
	state := stateFor(res.Outcome)
	if state == topics.JobCanceled && !j.canceled.Load() {
		state, result.Reason = topics.JobInterrupted, reasonAgentStopped
	}
	if op.Kind == topics.JobBackup && j.cmd.Spec.ForgetAfter != nil && (state == topics.JobSucceeded || state == topics.JobWarning) {
		state = a.forgetAfterBackup(j, op, state, result)
	}
	switch {
	case op.Kind == topics.JobSnapshots && res.Outcome == restic.OutcomeSucceeded:
		// The list is the job's own result: it goes before the terminal event.
		if n, err := a.sendSnapshotReport(j.id, res.Snapshots, time.Now()); err != nil {
			a.log.Error("cannot store the snapshot report", "job", j.id, "err", err)
			j.log.agentf("could not send the snapshot list to the server (%v)", err)
		} else {
			a.jobs.listFor = ""
			j.log.agentf("sent the list of %d snapshots to the server", n)
		}
	case changesSnapshots(op, res):
		a.jobs.listFor = j.id
	}
	return state, result
}

// unlockIfStale runs plain `restic unlock` before a job when an earlier
// restic may have left a stale lock, and puts that step into the job's
// log. It removes stale locks only; a failure is logged and the job runs
// anyway (it fails with "locked" if a lock really is in the way). An init
// (no repository yet) and an unlock job (it is the unlock) skip it.
func (a *Agent) unlockIfStale(j *job, op restic.Op) {
	why := a.staleLock.pending()
	// A cross-host restore reads another host's repository: this host's
	// stale lock is not there.
	if why == "" || op.Kind == topics.JobInit || op.Kind == topics.JobUnlock || (j.cmd.Spec != nil && j.cmd.Spec.IsCrossHost()) {
		return
	}
	j.log.agentf("an earlier restic run may have left a stale lock (%s): running `restic unlock` first, which removes stale locks only, never those of running processes", why)
	res, err := a.runner.Run(j.ctx, restic.Op{Kind: topics.JobUnlock, Repository: op.Repository, Bandwidth: op.Bandwidth,
		OnLine: j.log.resticLine, OnStart: j.log.resticStarted})
	switch {
	case err != nil:
		j.log.agentf("restic unlock could not run (%v); going on with the job", err)
	case res.Outcome == restic.OutcomeSucceeded:
		a.staleLock.clear()
		j.log.agentf("restic unlock finished: stale locks, if there were any, are removed")
	default:
		j.log.agentf("restic unlock failed (%s); going on with the job, which fails if the repository is still locked", res.Reason)
	}
}

// killedRestic reports whether restic was killed (after the cancel grace,
// by the OOM killer, or on Windows, where a canceled restic is killed at
// once), and so left its lock behind.
func killedRestic(res *restic.Result) bool {
	return res.ExitCode < 0 || (runtime.GOOS == "windows" && res.Outcome == restic.OutcomeCanceled)
}

// stateFor maps restic's outcome to the job's terminal state.
func stateFor(o restic.Outcome) topics.JobState {
	switch o {
	case restic.OutcomeSucceeded:
		return topics.JobSucceeded
	case restic.OutcomeWarning:
		return topics.JobWarning
	case restic.OutcomeCanceled:
		return topics.JobCanceled
	}
	return topics.JobFailed
}
