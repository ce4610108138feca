package agent

import (
	"fmt"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// forgetAfterBackup runs the forget a backup's spec asks for
// (JobSpec.ForgetAfter) once the backup made its snapshot: in the same
// job, its lines in the same log, the group's retention applied to the
// group's snapshots only (topics.GroupTag). It fills in how many snapshots
// were removed and returns the job's state: the backup's, or warning when
// the forget did not succeed (the snapshot is made; only the cleanup is
// missing, and the next forget catches up).
func (a *Agent) forgetAfterBackup(j *job, backup restic.Op, state topics.JobState, result *topics.JobResult) topics.JobState {
	spec := j.cmd.Spec
	warn := func(why string) topics.JobState {
		j.log.agentf("%s", why)
		result.Reason = joinSentences(result.Reason, why)
		return topics.JobWarning
	}
	if j.ctx.Err() != nil {
		return warn("the job was stopped after the backup, so forget after it did not run; the snapshot is kept")
	}
	op := forgetAfterOp(spec, backup)
	op.OnLine, op.OnStart = j.log.resticLine, j.log.resticStarted
	j.log.agentf("forget after the backup: applying source group %s's retention to its snapshots (tag %s)", spec.SourceGroup, topics.GroupTag(spec.SourceGroup))
	res, err := a.runner.Run(j.ctx, op)
	if err != nil {
		return warn(fmt.Sprintf("the backup succeeded but forget after it could not run: %v", err))
	}
	for _, line := range summaryLines(res) {
		j.log.agentf("%s", line)
	}
	if killedRestic(res) {
		a.staleLock.set(fmt.Sprintf("restic forget was killed during job %s (%s)", j.id, res.Reason))
	}
	result.DurationMS += res.Duration.Milliseconds()
	result.SnapshotsRemoved = len(restic.RemovedIDs(res.Forget))
	if res.Outcome != restic.OutcomeSucceeded {
		if res.Detail != "" {
			result.Detail = joinSentences(result.Detail, "forget: "+res.Detail)
		}
		return warn(fmt.Sprintf("the backup succeeded but forget after it failed (%s); the next forget removes what it should have", res.Reason))
	}
	return state
}
