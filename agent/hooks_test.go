package agent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestHookOutcomeDescribe (#10): the job's error names the hook and how it
// ended, in the words.
func TestHookOutcomeDescribe(t *testing.T) {
	for _, tc := range []struct {
		out  hookOutcome
		want string
	}{
		{hookOutcome{ran: true, exitCode: 3}, "pre_hook failed (exit 3)"},
		{hookOutcome{ran: true, timedOut: true}, "pre_hook timed out after 10s; its processes were killed"},
		{hookOutcome{ran: true, stopped: true}, "pre_hook was stopped and its processes killed"},
	} {
		if got := tc.out.describe("pre_hook", 10*time.Second); got != tc.want || !tc.out.failed() {
			t.Errorf("%+v: %q (failed %v), want %q", tc.out, got, tc.out.failed(), tc.want)
		}
	}
	if (hookOutcome{ran: true}).failed() || (hookOutcome{}).failed() {
		t.Error("exit 0 or no hook counts as failed")
	}
	if !strings.HasPrefix((hookOutcome{ran: true, startErr: errors.New("no shell")}).describe("post_hook", time.Second), "post_hook could not be started") {
		t.Error("start error")
	}
}
