package topics

import "fmt"

// JobState is a job's place in the state machine of DESIGN §3 (AWS IoT Jobs
// is the anchor): queued → delivered → running → one terminal state.
type JobState string

// Job states.
const (
	JobQueued      JobState = "queued"      // stored by the server, not yet delivered
	JobDelivered   JobState = "delivered"   // the agent journaled the command
	JobRunning     JobState = "running"     // restic started
	JobSucceeded   JobState = "succeeded"   // exit 0
	JobWarning     JobState = "warning"     // exit 3: snapshot made, some files unreadable
	JobFailed      JobState = "failed"      // any other failure, with a reason
	JobCanceled    JobState = "canceled"    // stopped on request
	JobExpired     JobState = "expired"     // expires_at passed before it started
	JobInterrupted JobState = "interrupted" // the agent died or restarted while it ran
)

// Valid reports whether s is a known state.
func (s JobState) Valid() bool {
	switch s {
	case JobQueued, JobDelivered, JobRunning, JobSucceeded, JobWarning, JobFailed, JobCanceled, JobExpired, JobInterrupted:
		return true
	}
	return false
}

// Terminal reports whether s is final: terminal states never change.
func (s JobState) Terminal() bool {
	switch s {
	case JobSucceeded, JobWarning, JobFailed, JobCanceled, JobExpired, JobInterrupted:
		return true
	}
	return false
}

// CheckTransition says whether a job may move from one state to another.
// Every accepted transition also carries the next version number (see
// JobEvent.Version); this checks the states only.
//
//	queued    → delivered, running, canceled, expired, failed
//	delivered → running, canceled, expired, failed, interrupted
//	running   → succeeded, warning, failed, canceled, interrupted
//
// A job may skip "delivered" when the agent's first report is already
// "running" (the delivered event was lost with a dropped connection, but the
// outbox will still deliver it — late, and then refused as stale).
func CheckTransition(from, to JobState) error {
	if !from.Valid() || !to.Valid() {
		return fmt.Errorf("unknown job state %q → %q", clip(string(from)), clip(string(to)))
	}
	if from.Terminal() {
		return fmt.Errorf("job is %s, a terminal state that never changes", from)
	}
	ok := false
	switch from {
	case JobQueued:
		ok = to == JobDelivered || to == JobRunning || to == JobCanceled || to == JobExpired || to == JobFailed
	case JobDelivered:
		ok = to == JobRunning || to == JobCanceled || to == JobExpired || to == JobFailed || to == JobInterrupted
	case JobRunning:
		ok = to.Terminal() && to != JobExpired
	}
	if !ok {
		return fmt.Errorf("job cannot go from %s to %s", from, to)
	}
	return nil
}
