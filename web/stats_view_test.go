package web

import (
	"regexp"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// chartSVG is the markup of one chart of a host page.
func chartSVG(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<svg id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no chart %s on the page", id)
	}
	end := strings.Index(page[start:], "</svg>")
	return page[start : start+end]
}

// TestHostPageCharts: the host page draws one bar per backup (a failure
// in red), the repository's size from the stats jobs, and a strip whose
// today is red when a backup failed today.
func TestHostPageCharts(t *testing.T) {
	app := newTestApp(t)
	c, _ := app.signedIn("ada", server.RoleAdmin)
	agent := app.readyHost("office-pc")

	page := c.get("/hosts/" + agent.hostID).body
	if !strings.Contains(page, "No backup ended in these 90 days.") || !strings.Contains(page, "Not measured yet") {
		t.Fatal("an empty host's charts do not say they are empty")
	}
	agent.finish(agent.backup(), topics.JobSucceeded, &topics.JobResult{DurationMS: 4000, Backup: &topics.BackupSummary{DataAdded: 1 << 20}})
	agent.finish(agent.backup(), topics.JobSucceeded, &topics.JobResult{DurationMS: 2000, Backup: &topics.BackupSummary{DataAdded: 1 << 19}})
	agent.finish(agent.backup(), topics.JobFailed, &topics.JobResult{DurationMS: 100, Reason: "the repository is locked"})
	agent.finish(agent.queue(topics.JobSpec{Kind: topics.JobStats}), topics.JobSucceeded, &topics.JobResult{
		Stats: &topics.RepoStats{TotalSize: 3 << 20, Snapshots: 2}})

	page = c.get("/hosts/" + agent.hostID).body
	bar := regexp.MustCompile(`<rect class="bar"[^>]*data-status="(\w+)"`)
	for _, id := range []string{"chart-added", "chart-duration"} {
		got := bar.FindAllStringSubmatch(chartSVG(t, page, id), -1)
		if len(got) != 3 || got[0][1] != "succeeded" || got[2][1] != "failed" {
			t.Errorf("%s: bars %v, want 3 (succeeded, succeeded, failed)", id, got)
		}
		if !strings.Contains(chartSVG(t, page, id), `fill="`+colourFailed+`" data-status="failed"`) {
			t.Errorf("%s: the failed backup is not red", id)
		}
	}
	if n := strings.Count(chartSVG(t, page, "chart-size"), `<circle class="point"`); n != 1 {
		t.Errorf("size chart has %d points, want 1", n)
	}
	if !strings.Contains(page, "3.0 MiB in 2 snapshots") {
		t.Error("the size point does not name its size")
	}
	strip := chartSVG(t, page, "chart-strip")
	if n := strings.Count(strip, "<rect "); n != 90 {
		t.Errorf("strip of %d days, want 90", n)
	}
	cells := regexp.MustCompile(`fill="([^"]+)" stroke="#fff" stroke-width="0.5" data-status="(\w+)"`).FindAllStringSubmatch(strip, -1)
	if last := cells[len(cells)-1]; last[1] != colourFailed || last[2] != "failed" {
		t.Errorf("today's cell %v, want red (a backup failed today)", last)
	}
	if strings.Count(strip, `data-status="none"`) != 89 {
		t.Error("days without backups are not grey")
	}
}
