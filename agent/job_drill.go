package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// A restore drill (#14) proves that backups restore: from the latest
// snapshot (of this host, of one source group if the drill names it) it
// restores a random sample of regular files into a scratch directory under
// the state directory, compares each with the live file where that is
// unchanged since the snapshot (same size and modification time), and
// deletes the scratch, also when the drill fails or is canceled. A file
// restic could not restore, or one whose content differs, fails the job.

// drillScratchDir is the directory under the state directory that holds a
// drill's scratch; at most one drill runs at a time (one restic at a time).
const drillScratchDir = "drill-scratch"

// runDrill runs a drill job and returns its terminal state and result.
func (a *Agent) runDrill(j *job, op restic.Op) (topics.JobState, *topics.JobResult) {
	opts := j.cmd.Spec.Drill
	root := filepath.Join(a.cfg.StateDir, drillScratchDir)
	// A scratch left by a drill the agent did not live to finish goes first.
	if err := removeScratch(root); err != nil {
		return a.drillFailed(j, fmt.Sprintf("the agent cannot clear the drill's scratch directory %s (%v): check the state directory's permissions", root, err))
	}
	defer func() {
		if err := removeScratch(root); err != nil {
			a.log.Error("cannot remove the drill's scratch directory", "job", j.id, "dir", root, "err", err)
			j.log.agentf("could not remove the scratch directory %s (%v): delete it by hand", root, err)
		} else {
			j.log.agentf("removed the scratch directory")
		}
	}()
	scratch := filepath.Join(root, j.id)
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return a.drillFailed(j, fmt.Sprintf("the agent cannot create the drill's scratch directory %s (%v): check the state directory's disk and permissions", scratch, err))
	}
	a.unlockIfStale(j, op)

	sample := newDrillSample(opts.SampleFiles(), opts.SampleBytes())
	q := restic.LsQuery{Repository: op.Repository, Bandwidth: op.Bandwidth, Snapshot: "latest",
		OnStart: j.log.resticStarted, OnLine: j.log.resticLine}
	if host, err := os.Hostname(); err == nil && host != "" {
		q.Host = host // what restic records for this host's backups (they set no --host)
	}
	if g := opts.Group(); g != "" {
		q.Tags = []string{topics.GroupTag(g)}
	}
	ls, err := a.runner.Ls(j.ctx, q, sample.offer)
	if err != nil {
		return a.drillFailed(j, "restic could not be started to list the latest snapshot: "+err.Error())
	}
	if ls.Outcome != restic.OutcomeSucceeded || len(ls.Snapshots) == 0 {
		return a.drillEnded(j, ls, drillListReason(ls, q))
	}
	snap := ls.Snapshots[0]
	files := sample.files()
	j.log.agentf("snapshot %s of %s: %d files listed; sampled %s (%s) to restore", shortID(snap.ID),
		snap.Time.UTC().Format(time.RFC3339), sample.seen, count(len(files), "file"), formatBytes(sample.bytes(files)))
	if len(files) == 0 {
		r := &topics.JobResult{StartedAt: j.startedAt, Drill: &topics.DrillResult{Snapshot: snap.ID},
			Reason: "the latest snapshot holds no regular file small enough to sample, so nothing was verified"}
		j.log.agentf("%s", r.Reason)
		return topics.JobWarning, r
	}

	rop := restic.Op{Kind: topics.JobRestore, Repository: op.Repository, Bandwidth: op.Bandwidth,
		Restore: restic.RestoreOptions{SnapshotID: snap.ID, Target: scratch}}
	for _, n := range files {
		rop.Restore.Include = append(rop.Restore.Include, n.Path)
	}
	stopProgress := a.startProgress(j, &rop)
	rop.OnLine, rop.OnStart = j.log.resticLine, j.log.resticStarted
	res, err := a.runner.Run(j.ctx, rop)
	stopProgress()
	if err != nil {
		return a.drillFailed(j, "restic could not be started to restore the sample: "+err.Error())
	}
	if res.Outcome == restic.OutcomeCanceled {
		return a.drillEnded(j, res, "")
	}
	found := compareSample(scratch, files, res)
	found.Snapshot = snap.ID
	j.log.agentf("compared %d of %d restored files with the live ones: %d matched, %d mismatched; %d skipped (changed since the snapshot)",
		found.Compared, found.Sampled, found.Matched, found.Mismatched, found.Skipped)
	result := jobResult(res, j.startedAt)
	result.Drill = &found.DrillResult
	result.Reason = ""
	state := topics.JobSucceeded
	if found.firstBad != "" {
		state, result.Reason = topics.JobFailed, clipResultText("restore drill failed: "+found.firstBad)
		j.log.agentf("%s", result.Reason)
	} else if res.Outcome != restic.OutcomeSucceeded {
		state, result.Reason = topics.JobFailed, clipResultText("restore drill failed: restic could not restore the sample ("+res.Reason+")")
		j.log.agentf("%s", result.Reason)
	} else {
		j.log.agentf("restore verified: every compared file matches the live one")
	}
	return state, result
}

// drillEnded is the end of a drill whose restic step did not succeed:
// canceled (or interrupted when the agent stops), or failed with reason.
func (a *Agent) drillEnded(j *job, res *restic.Result, reason string) (topics.JobState, *topics.JobResult) {
	result := jobResult(res, j.startedAt)
	if res.Outcome == restic.OutcomeCanceled {
		if j.canceled.Load() {
			return topics.JobCanceled, result
		}
		result.Reason = reasonAgentStopped
		return topics.JobInterrupted, result
	}
	result.Reason = clipResultText(reason)
	j.log.agentf("%s", reason)
	return topics.JobFailed, result
}

// drillFailed fails a drill for a reason of the agent's (restic did not
// run or could not start).
func (a *Agent) drillFailed(j *job, reason string) (topics.JobState, *topics.JobResult) {
	j.log.agentf("%s", reason)
	return topics.JobFailed, &topics.JobResult{Reason: clipResultText(reason), StartedAt: j.startedAt}
}

// drillListReason says why the latest snapshot could not be listed.
func drillListReason(ls *restic.Result, q restic.LsQuery) string {
	which := "of this host (" + q.Host + ")"
	if q.Host == "" {
		which = "at all"
	}
	if len(q.Tags) > 0 {
		which += " with the source group's tag " + q.Tags[0]
	}
	switch {
	case strings.HasPrefix(ls.Reason, restic.ErrLsOutput.Error()):
		return "restore drill failed: " + ls.Reason
	case ls.Outcome == restic.OutcomeSucceeded || strings.Contains(ls.Detail+" "+ls.Reason, "no snapshot found"):
		return "restore drill failed: the repository has no snapshot " + which + " yet; back up first"
	}
	return "restore drill failed: restic could not list the latest snapshot " + which + ": " + ls.Reason
}
