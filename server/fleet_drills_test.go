package server_test

import (
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestDrillLastAndNotification (#14): a host's last_drill is its newest
// finished drill (a drill still running, or of another host, does not
// count), and a failed drill is a failed job: the job.failed notification
// goes out with the drill's sentence.
func TestDrillLastAndNotification(t *testing.T) {
	f := newJobsFixture(t)
	rcv := newReceiver(t)
	f.channel(t, server.NotificationChannel{Name: "ops", Kind: server.ChannelWebhook, URL: rcv.srv.URL + "/hook",
		Events: []string{server.NotifyJobFailed}})
	h := f.readyHost(t, "files-1", 2)
	other := f.readyHost(t, "files-2", 3)
	drill := func(h notifyHost, state topics.JobState, res *topics.JobResult) int64 {
		t.Helper()
		j, err := f.s.CreateJob(t.Context(), f.operator, h.id, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobDrill,
			Drill: &topics.DrillOptions{Files: 5}}})
		if err != nil {
			t.Fatal(err)
		}
		if state != "" {
			walkJob(t, h.agent, j.UID, state, res)
		}
		return j.ID
	}
	last := func(id string) *server.HostDrill {
		t.Helper()
		host, err := f.s.GetHost(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return host.LastDrill
	}
	if d := last(h.id); d != nil {
		t.Fatalf("last drill before any: %+v", d)
	}

	ok := drill(h, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0),
		Drill: &topics.DrillResult{Snapshot: testSnapshotID, Sampled: 5, Compared: 5, Matched: 5, BytesRestored: 100}})
	drill(h, "", nil) // queued, not finished: not the last drill
	if d := last(h.id); d == nil || d.Job != ok || !d.Verified() || d.At.IsZero() {
		t.Fatalf("after a verified drill: %+v", d)
	}
	if d := last(other.id); d != nil {
		t.Fatalf("another host's last drill: %+v", d)
	}
	hosts, err := f.s.ListHosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range hosts {
		if (x.ID == h.id) != (x.LastDrill != nil) {
			t.Fatalf("list: %s last drill %+v", x.Name, x.LastDrill)
		}
	}

	reason := "restore drill failed: /srv/files/a.txt differs from the live file, which is unchanged since the snapshot (their SHA-256 differ)"
	bad := drill(h, topics.JobFailed, &topics.JobResult{ExitCode: intp(0), Reason: reason,
		Drill: &topics.DrillResult{Snapshot: testSnapshotID, Sampled: 5, Compared: 5, Matched: 4, Mismatched: 1,
			MismatchedPaths: []string{"/srv/files/a.txt"}}})
	if d := last(h.id); d == nil || d.Job != bad || d.Verified() || d.Status != topics.JobFailed {
		t.Fatalf("after a failed drill: %+v", d)
	}
	got := rcv.waitRequests(t, 1)
	p := decodePayload(t, got[0].Body)
	if len(got) != 1 || p.Event != server.NotifyJobFailed || p.Job == nil || p.Job.ID != bad || p.Job.Kind != "drill" || p.Job.Error != reason {
		t.Fatalf("notification %+v job %+v", p, p.Job)
	}
}
