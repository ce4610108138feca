package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TestSweepSendsQueuedJobsAgainToOnlineHosts: a job made while its host
// was not known online here (with several replicas: the host's hello was
// being handled on another one) is sent by the sweep once the host is
// online and the job has waited, not only at the host's next hello; an
// offline host's job is not.
func TestSweepSendsQueuedJobsAgainToOnlineHosts(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	init := f.setRepo(t) // the host is offline: nothing sent
	sent := func() int {
		n := 0
		for _, c := range f.agent.Commands(t, f.pub) {
			if c.Job == init.UID && c.Action == topics.CmdRun {
				n++
			}
		}
		return n
	}
	f.clock.Advance(time.Minute)
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sent(); n != 0 {
		t.Fatalf("the sweep sent %d run commands to an offline host", n)
	}

	// Online (its connection seen and stored), without a hello since the job.
	f.s.Presence().Connected(f.host, 1, "192.0.2.1:50000")
	if err := f.s.Presence().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sent(); n != 1 {
		t.Fatalf("the sweep sent %d run commands of a queued job to its online host, want 1", n)
	}
	// Once delivered, it is the agent's: not sent again.
	f.agent.Event(t, init.UID, 2, topics.JobDelivered, nil)
	f.agent.Sync(t)
	if err := f.s.SweepJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sent(); n != 1 {
		t.Fatalf("a delivered job's run command was sent again (%d in all)", n)
	}
}
