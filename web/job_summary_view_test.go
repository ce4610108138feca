package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// progressCard is the #job-progress fragment of a job page.
func progressCard(t *testing.T, page string) string {
	t.Helper()
	start := strings.Index(page, `id="job-progress"`)
	end := strings.Index(page, `id="log-title"`)
	if start < 0 || end < start {
		t.Fatalf("no progress card in the page:\n%s", page)
	}
	return page[start:end]
}

// A backup of a path that does not exist: its reason shows once, with no
// empty bar labelled "ended" and no "unreadable items".
func TestJobPageFailedBackupSaysItOnce(t *testing.T) {
	app := newTestApp(t)
	op, _ := app.signedIn("ops", server.RoleOperator)
	host := app.readyHost("web-01")
	job := host.backup()
	reason := "path /etc does not exist on this host, so nothing was backed up"
	host.finish(job, topics.JobFailed, &topics.JobResult{Reason: reason})
	page := op.get(jobPath(job.ID)).body
	mustContain(t, "failed job page", page, ">failed<", `id="job-summary"`)
	if n := strings.Count(page, reason); n != 1 {
		t.Errorf("the reason shows %d times", n)
	}
	card := progressCard(t, page)
	for _, bad := range []string{"ended", "<progress", "Unreadable"} {
		if strings.Contains(card, bad) {
			t.Errorf("the progress card of a failed job shows %q:\n%s", bad, card)
		}
	}
}

// A restore's summary says files and folders: apart when the agent
// counted them apart (restic 0.17+), together when restic 0.16 did.
func TestJobPageRestoreCounts(t *testing.T) {
	app := newTestApp(t)
	op, _ := app.signedIn("ops", server.RoleOperator)
	host := app.readyHost("web-01")
	for _, c := range []struct {
		res  topics.JobResult
		want string
	}{
		{topics.JobResult{FilesRestored: 1, DirsRestored: 3, BytesRestored: 3}, `data-summary="restored">1 file and 3 folders, 3 B<`},
		{topics.JobResult{FilesRestored: 1200, DirsRestored: 1, FilesUnchanged: 2, BytesRestored: 3 << 20},
			`data-summary="restored">1,200 files and 1 folder, 3.0 MiB; 2 files unchanged<`},
		{topics.JobResult{ItemsRestored: 4, BytesRestored: 3}, `data-summary="restored">4 files and folders, 3 B<`},
	} {
		job := host.queue(topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Target: "/tmp/r"})
		res := c.res
		host.finish(job, topics.JobSucceeded, &res)
		card := progressCard(t, op.get(jobPath(job.ID)).body)
		mustContain(t, "restore summary", card, c.want, `data-percent="100"`, "done")
	}
}

// A drill's summary (#14): how many sampled files match, the mismatched,
// skipped and restored figures, and the files that differ, on the job page
// of the failed drill; the host's page links it as the failed drill.
func TestJobPageDrillSummary(t *testing.T) {
	app := newTestApp(t)
	op, _ := app.signedIn("ops", server.RoleOperator)
	host := app.readyHost("files-01")
	job := host.queue(topics.JobSpec{Kind: topics.JobDrill})
	host.finish(job, topics.JobFailed, &topics.JobResult{Reason: "restore drill failed: /srv/a.txt differs from the live file",
		Drill: &topics.DrillResult{Sampled: 5, Compared: 4, Matched: 3, Mismatched: 1, Skipped: 1,
			MismatchedPaths: []string{"/srv/a.txt"}, BytesRestored: 2048}})
	page := op.get(jobPath(job.ID)).body
	mustContain(t, "drill job page", page, `data-summary="drill">3 of 5 sampled files match the live ones; 1 mismatched, 1 skipped (changed since the snapshot); 2.0 KiB restored`,
		`>/srv/a.txt</span>`, "restore drill")
	hostPage := op.get("/hosts/" + host.hostID).body
	mustContain(t, "host page", hostPage, `data-drill="failed"`, fmt.Sprintf(`href="/jobs/%d">restore drill failed</a>`, job.ID), "Run drill now")
}
