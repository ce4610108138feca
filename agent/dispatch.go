package agent

import (
	"context"
	"fmt"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/topics"
)

// dispatch handles commands and configs in arrival order until ctx is
// done, and then what had already arrived (journaling a run costs an
// fsync; a run journaled now is queued again at the next start). It waits
// until the jobs of the previous run are recovered, so that a cancel
// finds the job it names.
func (a *Agent) dispatch(ctx context.Context) {
	select {
	case <-a.recovered:
	case <-ctx.Done():
		return
	}
	for {
		for _, it := range a.inbox.take() {
			a.handleDownItem(it)
		}
		select {
		case <-ctx.Done():
			for _, it := range a.inbox.take() {
				a.handleDownItem(it)
			}
			return
		case <-a.inbox.signal:
		}
	}
}

func (a *Agent) handleDownItem(it downItem) {
	switch it.kind {
	case topics.KindConfig:
		a.handleConfig(it.payload)
	case topics.KindCmd:
		if isUpgradeCommand(it.payload) {
			a.handleUpgrade(it.payload)
			return
		}
		a.handleCommand(it.payload, it.duplicate)
	}
}

// handleConfig applies a desired config newer than the applied one, then
// wakes jobs waiting for it, has the scheduler replan, and reports the new version in a status.
func (a *Agent) handleConfig(payload []byte) {
	var c topics.Config
	if err := topics.DecodeFrom(payload, a.cfg.HostID, &c); err != nil {
		a.log.Warn("dropped malformed message", "topic", topics.ConfigTopic(a.cfg.HostID), "bytes", len(payload), "err", clipText(err.Error()))
		return
	}
	had := a.desired.version()
	applied, err := a.desired.apply(&c)
	switch {
	case err != nil:
		a.log.Error("cannot apply the desired config; the server sends it again after the next hello", "version", c.Version, "err", err)
		return
	case !applied:
		a.log.Debug("config not newer than the applied one; ignored", "version", c.Version, "applied", had)
		return
	}
	repo := "none"
	if r := a.desired.repository(); r != nil {
		repo = r.String()
	}
	a.log.Info("applied config", "version", c.Version, "previous", had, "repository", repo)
	a.jobs.wake()
	a.sched.poke()
	select {
	case a.statusNow <- struct{}{}:
	default:
	}
}

// handleCommand journals and answers a run or cancel command.
func (a *Agent) handleCommand(payload []byte, duplicate bool) {
	var c topics.Command
	if err := topics.DecodeFrom(payload, a.cfg.HostID, &c); err != nil {
		a.refuseCommand(payload, err)
		return
	}
	a.log.Info("command", "action", c.Action, "job", c.Job, "id", c.ID, "mqtt_dup", duplicate)
	switch c.Action {
	case topics.CmdRun:
		a.receiveRun(&c, payload)
	case topics.CmdCancel:
		a.receiveCancel(&c, payload)
	}
}

// receiveRun journals a run command before anything else; a job id the
// journal knows is never run again.
func (a *Agent) receiveRun(c *topics.Command, payload []byte) {
	var already *outbox.Record
	detail, err := journalDetail(c, payload)
	if err == nil {
		already, err = a.journal.Begin(c.Job, detail)
	}
	if err != nil {
		a.log.Error("cannot journal the job, so it does not run now; the server sends it again after the next hello", "job", c.Job, "err", err)
		return
	}
	if already != nil {
		switch {
		case already.Done:
			a.log.Info("duplicate run of a finished job: sending its recorded result again, restic does not run", "job", c.Job)
			a.resendOutcome(c.Job, already.Outcome)
		case a.jobs.supplySource(c.Job, c.SourceRepository):
			a.log.Info("duplicate run of a waiting cross-host restore: it has its source credentials again", "job", c.Job)
		default:
			a.log.Info("duplicate run of a job already waiting or running; ignored", "job", c.Job)
		}
		return
	}
	j := a.newJob(c, c.Version+1)
	if expired(c) {
		a.finishWithoutRestic(j, topics.JobExpired, expiredReason(c))
		return
	}
	if _, err := a.emit(j, topics.JobDelivered, nil); err != nil {
		// The job is journaled and queued: the delivered event is only
		// lost, and the running one will carry a higher version.
		a.log.Error("cannot store the delivered event", "job", j.id, "err", err)
	}
	a.jobs.enqueue(j)
}

// receiveCancel stops a running job (gracefully: restic is interrupted),
// drops a waiting one, and journals an unknown one as canceled so that a
// run arriving later never runs.
func (a *Agent) receiveCancel(c *topics.Command, payload []byte) {
	if j, running := a.jobs.cancel(c.Job); j != nil {
		if running {
			a.log.Info("canceling the running job: restic is asked to stop", "job", c.Job)
			return
		}
		a.finishWithoutRestic(j, topics.JobCanceled, "canceled before it started; restic did not run")
		return
	}
	already, err := a.journal.Begin(c.Job, payload)
	switch {
	case err != nil:
		a.log.Error("cannot journal the cancel; the server sends it again after the next hello", "job", c.Job, "err", err)
	case already != nil && already.Done:
		a.log.Info("cancel of a finished job: sending its recorded result again", "job", c.Job)
		a.resendOutcome(c.Job, already.Outcome)
	case already != nil:
		a.log.Info("cancel of a job that is just finishing; it ends on its own", "job", c.Job)
	default:
		a.log.Info("cancel of a job this agent never received: recorded as canceled, it will not run", "job", c.Job)
		a.finishWithoutRestic(a.newJob(c, max(2, c.Version+1)), topics.JobCanceled, "canceled before the agent received it; restic did not run")
	}
}

// refuseCommand answers a run command this agent cannot read (a newer
// server's job kind or option, most likely) with "failed", so the server
// stops resending it; anything without a usable job id is only logged.
func (a *Agent) refuseCommand(payload []byte, cause error) {
	a.log.Warn("dropped malformed message", "topic", topics.CmdTopic(a.cfg.HostID), "bytes", len(payload), "err", clipText(cause.Error()))
	c, ok := looseRunCommand(payload, a.cfg.HostID)
	if !ok {
		return
	}
	already, err := a.journal.Begin(c.Job, nil)
	if err != nil || already != nil {
		return
	}
	reason := fmt.Sprintf("this agent (version %s) cannot read the job: %s; upgrade the agent", Version, clipText(cause.Error()))
	a.finishWithoutRestic(a.newJob(c, c.Version+1), topics.JobFailed, reason)
}
