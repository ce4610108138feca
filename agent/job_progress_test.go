package agent

import (
	"testing"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// The estimate of the time left reaches the server only once it means
// something. The sequences are what the runner makes of restic 0.18.1's
// status lines.
func TestProgressETAOnlyWhenMeaningful(t *testing.T) {
	host, job := topics.RandomID(topics.HostIDPrefix), topics.RandomID(topics.JobIDPrefix)
	for _, c := range []struct {
		name string
		p    restic.Progress
		want int64
	}{
		// A 3-second backup. Its first status comes while restic still
		// scans: {"percent_done":0.0008,...} with neither seconds_elapsed
		// nor seconds_remaining; the runner estimated from its own 1.3 s
		// (restic's start included) and got 21 min 43 s.
		{"3 s backup, scanning", restic.Progress{Percent: 0.08, ElapsedSeconds: 1, ETASeconds: 1303}, -1},
		// {"seconds_remaining":1,"percent_done":0.0309874,...}
		{"3 s backup, restic's first estimate", restic.Progress{Percent: 3.1, ETASeconds: 1}, -1},
		// {"seconds_elapsed":1,"percent_done":0.82974701,...}
		{"3 s backup, most done", restic.Progress{Percent: 83, ElapsedSeconds: 1, ETASeconds: 0}, -1},
		// {"seconds_elapsed":4,"percent_done":1,...}: restic saves the
		// snapshot; nothing is left to estimate.
		{"3 s backup, finishing", restic.Progress{Percent: 100, ElapsedSeconds: 4, ETASeconds: 0}, -1},
		// A long backup: nothing under 1 %, then restic's estimate.
		{"long backup, 0.5 %", restic.Progress{Percent: 0.5, ElapsedSeconds: 30, ETASeconds: 5970}, -1},
		{"long backup, 12 %", restic.Progress{Percent: 12, ElapsedSeconds: 60, ETASeconds: 440}, 440},
		{"long backup, 5 s in", restic.Progress{Percent: 40, ElapsedSeconds: 5, ETASeconds: 8}, 8},
		{"unknown stays unknown", restic.Progress{Percent: 50, ElapsedSeconds: 60, ETASeconds: -1}, -1},
	} {
		msg := progressMessage(host, job, &c.p)
		if msg.ETASeconds != c.want {
			t.Errorf("%s: eta %d s, want %d", c.name, msg.ETASeconds, c.want)
		}
		if err := msg.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
