package restic

import (
	"fmt"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// Outcome is how an operation ended, in the terms of a job's terminal
// state (DESIGN §3).
type Outcome string

// The outcomes. Warning means a backup made a snapshot that lacks some of
// the data asked for.
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeWarning   Outcome = "warning"
	OutcomeFailed    Outcome = "failed"
	OutcomeCanceled  Outcome = "canceled"
)

// restic's exit codes. 10, 11 and 12 exist since restic 0.17.0, 0.17.0 and
// 0.17.1; older versions exit 1 and the reason is read from stderr.
const (
	ExitOK            = 0
	ExitFatal         = 1
	ExitGoRuntime     = 2
	ExitIncomplete    = 3
	ExitNoRepository  = 10
	ExitLocked        = 11
	ExitWrongPassword = 12
	ExitInterrupted   = 130
)

// Reasons: one sentence each, for the job page and notifications. A failure
// restic explains in other words gets restic's own first line instead.
const (
	ReasonWrongPassword      = "wrong password"
	ReasonNoRepository       = "repository does not exist"
	ReasonLocked             = "repository is locked by another process"
	ReasonIncomplete         = "some files could not be read, so the snapshot is incomplete"
	ReasonMissingSources     = "some source paths do not exist and were skipped"
	ReasonCanceled           = "canceled"
	ReasonInterrupted        = "restic was interrupted by a signal from outside the agent"
	ReasonAlreadyInitialized = "repository is already initialised"
)

// verdict is classify's answer.
type verdict struct {
	outcome     Outcome
	reason      string
	detail      string
	alreadyInit bool
}

// ending is how a restic process ended, as classify needs it.
type ending struct {
	kind           topics.JobKind
	code           int    // exit code; -1 when killed by a signal
	state          string // os.ProcessState text, e.g. "signal: killed"
	canceled       bool   // we stopped it (ctx done)
	exitMessage    string // from restic's exit_error message, if any
	stderr         []string
	missingSources []string // backup paths restic skipped: they do not exist
}

// classify maps how restic ended to an outcome and reason. Exit codes come
// first; for restic before 0.17, whose fatal errors all exit 1, the reason
// is read from the exit message or stderr.
func classify(e ending) verdict {
	detail := fatalDetail(e.exitMessage, e.stderr)
	switch {
	case e.canceled && e.code != ExitOK:
		return verdict{outcome: OutcomeCanceled, reason: ReasonCanceled, detail: detail}
	case e.code == ExitOK:
		if e.kind == topics.JobBackup && len(e.missingSources) > 0 {
			return verdict{outcome: OutcomeWarning, reason: ReasonMissingSources}
		}
		return verdict{outcome: OutcomeSucceeded}
	case e.code == ExitIncomplete && e.kind == topics.JobBackup:
		return verdict{outcome: OutcomeWarning, reason: ReasonIncomplete, detail: detail}
	case e.code == ExitNoRepository:
		return verdict{outcome: OutcomeFailed, reason: ReasonNoRepository, detail: detail}
	case e.code == ExitLocked:
		return verdict{outcome: OutcomeFailed, reason: ReasonLocked, detail: detail}
	case e.code == ExitWrongPassword:
		return verdict{outcome: OutcomeFailed, reason: ReasonWrongPassword, detail: detail}
	case e.code == ExitInterrupted:
		return verdict{outcome: OutcomeFailed, reason: ReasonInterrupted, detail: detail}
	case e.code < 0:
		return verdict{outcome: OutcomeFailed, reason: "restic was stopped (" + e.state + ")", detail: detail}
	}
	text := e.exitMessage + "\n" + strings.Join(e.stderr, "\n")
	if e.kind == topics.JobInit && alreadyInitialized(text) {
		return verdict{outcome: OutcomeSucceeded, reason: ReasonAlreadyInitialized, detail: detail, alreadyInit: true}
	}
	if e.kind == topics.JobBackup && len(e.missingSources) > 0 && strings.Contains(text, "directories/files do not exist") {
		// restic's "all source (before 0.17: target) directories/files do
		// not exist": the reason names them, restic's words are in the log.
		return verdict{outcome: OutcomeFailed, reason: noSourcesReason(e.missingSources)}
	}
	if reason := reasonFromText(text); reason != "" {
		return verdict{outcome: OutcomeFailed, reason: reason, detail: detail}
	}
	reason := fmt.Sprintf("restic failed with exit code %d", e.code)
	if e.code == ExitGoRuntime {
		reason = "restic crashed (exit code 2)"
	}
	if detail != "" {
		reason += ": " + clip(detail, 200)
	}
	return verdict{outcome: OutcomeFailed, reason: reason, detail: detail}
}

// reasonFromText recognises the fatal errors that restic before 0.17
// reports with exit code 1 (and newer ones in exit_error messages).
func reasonFromText(text string) string {
	switch {
	case strings.Contains(text, "wrong password or no key found"):
		return ReasonWrongPassword
	case strings.Contains(text, "unable to create lock"), strings.Contains(text, "repository is already locked"):
		return ReasonLocked
	case strings.Contains(text, "Is there a repository at the following location?"),
		strings.Contains(text, "repository does not exist"),
		strings.Contains(text, "unable to open config file"):
		return ReasonNoRepository
	}
	return ""
}

// noSourcesReason is the reason of a backup none of whose paths exist:
// "path /x does not exist on this host, so nothing was backed up".
func noSourcesReason(paths []string) string {
	what := "path " + paths[0] + " does not exist"
	switch n := len(paths); {
	case n == 2:
		what = "paths " + paths[0] + " and " + paths[1] + " do not exist"
	case n > 2:
		what = fmt.Sprintf("paths %s, %s and %d more do not exist", paths[0], paths[1], n-2)
	}
	return what + " on this host, so nothing was backed up"
}

func alreadyInitialized(text string) bool {
	return strings.Contains(text, "config file already exists") ||
		strings.Contains(text, "repository master key and config already initialized")
}

// fatalDetail is the most specific text restic gave for a failure, on one
// line: its exit_error message, else the last "Fatal:" line on stderr,
// else the last stderr line.
func fatalDetail(exitMessage string, stderr []string) string {
	text := exitMessage
	if text == "" {
		for i := len(stderr) - 1; i >= 0 && text == ""; i-- {
			if strings.HasPrefix(stderr[i], "Fatal:") {
				text = strings.Join(stderr[i:], " ")
			}
		}
	}
	if text == "" && len(stderr) > 0 {
		text = stderr[len(stderr)-1]
	}
	text = strings.Join(strings.Fields(text), " ")
	for {
		t, ok := strings.CutPrefix(text, "Fatal: ")
		if !ok {
			break
		}
		text = t
	}
	return clip(text, 2000)
}
