package server_test

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// waitMonitorState polls the host's retained monitor states until the
// newest satisfies ok.
func (f *jobsFixture) waitMonitorState(t *testing.T, what string, ok func(*topics.MonitorHostState) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := f.pub.On(topics.MonitorHostTopic(f.host))
		if n := len(msgs); n > 0 {
			var st topics.MonitorHostState
			if err := topics.Decode(msgs[n-1].Payload, &st); err == nil && ok(&st) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the monitor state to show %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMonitorStateFollowsHealthAndStats: the retained monitor state (what
// Home Assistant's entities read) is published again when a stats job
// stores the repository's size, when a backup succeeds, and when the host
// turns overdue (the health watch's bus event) (#13).
func TestMonitorStateFollowsHealthAndStats(t *testing.T) {
	f := newJobsFixture(t)
	f.sweep(t) // the first sweep after start does not look for stats yet
	f.ready(t)
	f.lookForStats(t)
	uids := f.pendingStats(t)
	if len(uids) != 1 {
		t.Fatalf("stats jobs %v", uids)
	}
	f.finishNow(t, uids[0], topics.JobSucceeded, &topics.JobResult{Stats: &topics.RepoStats{TotalSize: 4242, Blobs: 3, Snapshots: 1}})
	f.waitMonitorState(t, "the repository size", func(st *topics.MonitorHostState) bool {
		return st.RepositorySizeBytes != nil && *st.RepositorySizeBytes == 4242 && st.LastSuccessAt == nil
	})

	f.backupNow(t, f.host, f.agent, topics.JobSucceeded)
	f.waitMonitorState(t, "the last success", func(st *topics.MonitorHostState) bool {
		return st.LastSuccessAt != nil && st.LastSuccessAt.Equal(f.clock.Now()) && !st.Overdue && st.LastBackupStatus == "succeeded"
	})

	f.clock.Advance(server.DefaultOverdueAfterSeconds*time.Second + time.Minute)
	if err := f.s.CheckHealth(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.waitMonitorState(t, "overdue", func(st *topics.MonitorHostState) bool {
		return st.Overdue && st.RepositorySizeBytes != nil && *st.RepositorySizeBytes == 4242
	})
}
