package agent

import (
	"encoding/json"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/topics"
)

// recoverJobs deals with the jobs the journal says were not finished when
// the agent last stopped (DESIGN §3 "Agent restart mid-job"):
//
//   - restic had started: the job is reported interrupted (restic is gone
//     with the old process) and a stale lock is expected, so the next job
//     runs `restic unlock` first. If its terminal event is already in the
//     outbox (the agent died between storing it and journaling it), that
//     outcome stands instead.
//   - restic had not started: the job is queued again, in its old order,
//     unless it expired meanwhile.
//   - a cancel of an unknown job that was not finished: canceled.
//
// It runs before the dispatcher handles any command, so a duplicate or a
// cancel finds the job where it belongs.
func (a *Agent) recoverJobs() {
	recs := a.journal.Running()
	if len(recs) == 0 {
		return
	}
	seen := a.scanOutboxForJobs(recs)
	for _, r := range recs {
		cp, origin, err := decodeJournaledRun(r.Detail, a.cfg.HostID)
		if err != nil {
			a.log.Error("unfinished journal record is not a command this agent can read; dropping it", "job", clipText(r.ID), "err", clipText(err.Error()))
			a.journal.Finish(r.ID, nil)
			continue
		}
		c := *cp
		st, err := decodeJobRecordState(r.State)
		if err != nil {
			a.log.Warn("unfinished job's state is unreadable; treating it as started", "job", c.Job, "err", err)
			st.StartedAt = r.Begun
		}
		out := seen[c.Job]
		j := a.newJob(&c, c.Version+2) // delivered = V+1 was stored (or lost with the crash)
		j.origin = origin
		j.log.next = max(st.LogLines, out.lastLine) + 1
		j.startedAt = st.StartedAt
		switch {
		case c.Action == topics.CmdCancel:
			j.version = max(2, c.Version+1)
			a.finishWithoutRestic(j, topics.JobCanceled, "canceled before the agent received it; restic did not run")
		case out.terminal != nil:
			a.log.Info("job's result was stored just before the agent stopped; recording it", "job", c.Job)
			if err := a.journal.Finish(c.Job, out.terminal); err != nil {
				a.log.Error("cannot record the job's outcome in the journal", "job", c.Job, "err", err)
			}
		case !st.StartedAt.IsZero():
			j.version = c.Version + 3 // running = V+2 was stored before restic started
			a.staleLock.set("the agent stopped while restic ran job " + c.Job)
			a.finishWithoutRestic(j, topics.JobInterrupted, reasonAgentDied+"; a stale restic lock, if any, is removed before the next job")
		case expired(&c):
			a.finishWithoutRestic(j, topics.JobExpired, expiredReason(&c))
		default:
			a.log.Info("job received before the agent stopped is queued again", "job", c.Job)
			a.jobs.enqueue(j)
		}
	}
}

// jobInOutbox is what the outbox still holds of an unfinished job.
type jobInOutbox struct {
	terminal []byte // a stored terminal event
	lastLine uint64 // the highest log line stored
}

// scanOutboxForJobs reads the pending outbox for the jobs of recs: a
// terminal event stored just before a crash, and the last log line number
// (the journal's count can lag one batch behind).
func (a *Agent) scanOutboxForJobs(recs []outbox.Record) map[string]jobInOutbox {
	want := map[string]bool{}
	for _, r := range recs {
		want[r.ID] = true
	}
	out := map[string]jobInOutbox{}
	var after uint64
	for {
		page, err := a.outbox.Pending(after, 256)
		if err != nil {
			a.log.Error("cannot read the outbox while recovering jobs", "err", err)
			return out
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			after = e.Seq
			t, err := topics.Parse(e.Topic)
			if err != nil || !want[t.Job] {
				continue
			}
			found := out[t.Job]
			switch t.Kind {
			case topics.KindJobEvent:
				var ev topics.JobEvent
				if json.Unmarshal(e.Payload, &ev) == nil && ev.State.Terminal() {
					found.terminal = e.Payload
				}
			case topics.KindJobLog:
				var l topics.JobLog
				if json.Unmarshal(e.Payload, &l) == nil && len(l.Lines) > 0 {
					found.lastLine = max(found.lastLine, l.Last())
				}
			}
			out[t.Job] = found
		}
	}
}
