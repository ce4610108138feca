package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/topics"
)

// outboxRetry is how often a state change waiting for room in a full
// outbox tries again when no ack arrives in between.
const outboxRetry = 5 * time.Second

// store appends one message to the outbox (fsync'd) and hands it to the
// sender: the only way a job event, log batch or snapshot report leaves
// the agent. build gets the entry's seq, which the message carries. A full
// outbox refuses log batches at once (the caller counts the lines); events
// and reports wait until acks make room, unless the agent is stopping (the
// job is then reported from the journal at the next start).
func (a *Agent) store(kind outbox.Kind, topic string, build func(seq uint64) ([]byte, error)) ([]byte, error) {
	var payload []byte
	warned := false
	for {
		_, err := a.outbox.AppendWith(kind, topic, func(seq uint64) ([]byte, error) {
			p, err := build(seq)
			payload = p
			return p, err
		})
		if err == nil {
			a.sender.kick()
			return payload, nil
		}
		if !errors.Is(err, outbox.ErrFull) || kind == outbox.KindLog || a.stopping.Err() != nil {
			return nil, err
		}
		if !warned {
			warned = true
			a.log.Warn("the outbox is full: waiting for the server to acknowledge what the agent sent before storing more", "topic", topic, "err", err)
		}
		select {
		case <-a.stopping.Done():
		case <-a.roomFreed:
		case <-time.After(outboxRetry):
		}
	}
}

// emit stores the job's next state change and returns the stored message.
// A terminal state carries res.
func (a *Agent) emit(j *job, state topics.JobState, res *topics.JobResult) ([]byte, error) {
	ev := &topics.JobEvent{
		Envelope: topics.NewEnvelope(topics.TypeJobEvent, a.cfg.HostID),
		Job:      j.id,
		Version:  j.version,
		State:    state,
		At:       time.Now().UTC(),
		Result:   res,
		Origin:   j.origin,
	}
	kind := outbox.KindEvent
	if state.Terminal() {
		kind = outbox.KindResult
	}
	payload, err := a.store(kind, topics.JobEventTopic(a.cfg.HostID, j.id), func(seq uint64) ([]byte, error) {
		ev.Seq = seq
		return topics.Encode(ev)
	})
	if err != nil {
		return nil, fmt.Errorf("store %s event of job %s: %w", state, j.id, err)
	}
	j.version++
	return payload, nil
}

// finishJob completes the log (so the whole log is on its way before the
// result), stores the terminal event and then records it in the journal
// as the job's outcome: the answer to a duplicate run. If the event cannot
// be stored, the journal keeps the job unfinished and the next start
// reports it (interrupted if restic had started).
func (a *Agent) finishJob(j *job, state topics.JobState, res *topics.JobResult) {
	defer j.cancel()
	j.log.flush()
	last, unannounced := j.log.lastLine()
	res.LogLines = last
	if unannounced > 0 {
		res.Detail = joinSentences(res.Detail, fmt.Sprintf("%d log lines at the end of the job were dropped because the agent's outbox was full.", unannounced))
	}
	if res.ResticVersion == "" {
		res.ResticVersion = a.resticVersion
	}
	payload, err := a.emit(j, state, res)
	if err != nil {
		a.log.Error("cannot store the job's result; it is reported after the agent's next start", "job", j.id, "state", state, "err", err)
		return
	}
	if err := a.journal.Finish(j.id, payload); err != nil {
		a.log.Error("cannot record the job's outcome in the journal", "job", j.id, "err", err)
	}
	a.log.Info("job finished", "job", j.id, "state", state, "reason", res.Reason, "log_lines", last)
}

// finishWithoutRestic ends a job that restic never ran for (expired,
// canceled before its turn, no repository, an invalid operation), saying
// why in its log and its result.
func (a *Agent) finishWithoutRestic(j *job, state topics.JobState, reason string) {
	j.log.agentf("%s", reason)
	a.finishJob(j, state, &topics.JobResult{Reason: clipResultText(reason), StartedAt: j.startedAt})
}

// resendOutcome sends a finished job's recorded terminal event again, as a
// new outbox entry: the answer to a duplicate command. The server dedups
// events by (job, version), so it stores it at most once.
func (a *Agent) resendOutcome(id string, outcome []byte) {
	var ev topics.JobEvent
	if len(outcome) == 0 || json.Unmarshal(outcome, &ev) != nil || ev.Job != id || !ev.State.Terminal() {
		a.log.Warn("the journal holds no result to send again for this job", "job", id)
		return
	}
	ev.Envelope = topics.NewEnvelope(topics.TypeJobEvent, a.cfg.HostID)
	if _, err := a.store(outbox.KindResult, topics.JobEventTopic(a.cfg.HostID, id), func(seq uint64) ([]byte, error) {
		ev.Seq = seq
		return topics.Encode(&ev)
	}); err != nil {
		a.log.Error("cannot store the job's result again", "job", id, "err", err)
	}
}

// joinSentences appends b to a, separated by a space.
func joinSentences(a, b string) string {
	if a == "" {
		return b
	}
	return clipResultText(a + " " + b)
}
