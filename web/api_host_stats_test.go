package web

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// TestAPIHostStatsSeries: the series GET /api/v1/hosts/{id}/stats answers
// are what the agent's jobs reported — the repository size of a stats
// job, each backup's data added, duration, restore size and status, and
// today's strip.
func TestAPIHostStatsSeries(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.svc.CreateUser(t.Context(), server.CLIActor(), "ada", server.RoleAdmin, "correct horse battery staple 9"); err != nil {
		t.Fatal(err)
	}
	api := app.apiClient("ada")
	agent := app.readyHost("office-pc")
	ok := agent.finish(agent.backup(), topics.JobSucceeded, &topics.JobResult{SnapshotID: strings.Repeat("ab", 32), DurationMS: 3100,
		Backup: &topics.BackupSummary{DataAdded: 4096, TotalBytesProcessed: 9000}})
	failed := agent.finish(agent.backup(), topics.JobFailed, &topics.JobResult{DurationMS: 200, Reason: "the repository is locked"})
	uncompressed := uint64(7 << 20)
	agent.finish(agent.queue(topics.JobSpec{Kind: topics.JobStats}), topics.JobSucceeded, &topics.JobResult{
		Stats: &topics.RepoStats{TotalSize: 5 << 20, UncompressedSize: &uncompressed, CompressionRatio: 1.4, Blobs: 12, Snapshots: 1}})

	res := api.get("/api/v1/hosts/" + agent.hostID + "/stats?days=30")
	if res.StatusCode != 200 {
		t.Fatalf("GET stats: %d %s", res.StatusCode, res.body)
	}
	var st server.HostStats
	if err := json.Unmarshal([]byte(res.body), &st); err != nil {
		t.Fatal(err)
	}
	if st.HostID != agent.hostID || st.Days != 30 || len(st.Strip) != 30 {
		t.Fatalf("stats %+v", st)
	}
	if len(st.Repository) != 1 {
		t.Fatalf("repository series %+v", st.Repository)
	}
	r := st.Repository[0]
	if r.TotalSize != 5<<20 || r.TotalUncompressedSize == nil || *r.TotalUncompressedSize != 7<<20 || r.Blobs != 12 || r.Snapshots != 1 {
		t.Errorf("repository point %+v", r)
	}
	if len(st.Backups) != 2 {
		t.Fatalf("backups %+v", st.Backups)
	}
	if b := st.Backups[0]; b.JobID != ok.ID || b.Status != "succeeded" || b.DataAdded != 4096 || b.RestoreSize != 9000 || b.DurationSeconds != 3.1 {
		t.Errorf("succeeded backup %+v", b)
	}
	if b := st.Backups[1]; b.JobID != failed.ID || b.Status != "failed" || b.DurationSeconds != 0.2 {
		t.Errorf("failed backup %+v", b)
	}
	today := st.Strip[len(st.Strip)-1]
	if today.Day != time.Now().UTC().Format(time.DateOnly) || today.Succeeded != 1 || today.Failed != 1 {
		t.Errorf("today %+v", today)
	}

	for _, q := range []string{"days=0", "days=731", "days=abc"} {
		res := api.get("/api/v1/hosts/" + agent.hostID + "/stats?" + q)
		if res.StatusCode != 400 || !strings.Contains(res.body, "days must be a whole number from 1 to 730") {
			t.Errorf("%s: %d %s", q, res.StatusCode, res.body)
		}
	}
	if res := api.get("/api/v1/hosts/h_nosuchhost/stats"); res.StatusCode != 404 {
		t.Errorf("unknown host: %d %s", res.StatusCode, res.body)
	}
}
