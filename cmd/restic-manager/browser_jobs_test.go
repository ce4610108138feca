package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// signIn signs the browser in as the admin and waits for the dashboard.
func signIn(t *testing.T, ctx context.Context, m *Main) {
	t.Helper()
	browse(t, ctx,
		chromedp.Navigate(m.HTTPURL()+"/login"),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, m.AdminPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet`, chromedp.ByQuery),
	)
}

// TestBrowserBackupNow: on the host page press "Back up now" (with a
// bandwidth limit for this run, so the backup lasts a few seconds), land on
// the job page and watch log lines arrive and the progress bar move without
// a reload, then see the summary with the snapshot.
func TestBrowserBackupNow(t *testing.T) {
	ctx := newBrowser(t)
	e := newJobEnv(t, "design-studio")
	e.startAgent()
	if init := e.setRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "projects"), 6, 8<<20)
	signIn(t, ctx, e.m)

	browse(t, ctx,
		chromedp.Navigate(e.m.HTTPURL()+"/hosts/"+e.hostID),
		chromedp.WaitVisible(`#backup-now`, chromedp.ByQuery),
		chromedp.WaitVisible(`#repo-state`, chromedp.ByQuery),
	)
	var repoState string
	browse(t, ctx, chromedp.Text(`#repo-state`, &repoState, chromedp.ByQuery))
	if !strings.Contains(strings.ToLower(repoState), "ready") {
		t.Fatalf("repository state on the host page: %q", repoState)
	}
	screenshot(t, ctx, "host-before-backup")
	browse(t, ctx,
		chromedp.SetValue(`#backup-paths`, data, chromedp.ByQuery),
		chromedp.Click(`#backup-now details.disclosure:last-of-type summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#backup-bw-up`, chromedp.ByQuery),
		chromedp.SendKeys(`#backup-bw-up`, "4096", chromedp.ByQuery),
	)
	browse(t, ctx,
		chromedp.Click(`#backup-now button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitReady(`#job-log`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload = 7`, nil),
	)

	// While it runs: log lines appear and the bar moves.
	percents := map[string]bool{}
	maxLines := 0
	deadline := time.Now().Add(90 * time.Second)
	for {
		var st struct {
			Status  string `json:"status"`
			Percent string `json:"percent"`
			Lines   int    `json:"lines"`
		}
		browse(t, ctx, chromedp.Evaluate(`({
			status: document.querySelector('#job-status')?.textContent.trim().toLowerCase() || '',
			percent: document.querySelector('#job-progress progress')?.dataset.percent || '',
			lines: document.querySelectorAll('#job-log > *').length,
		})`, &st))
		if st.Percent != "" {
			if p, err := strconv.ParseFloat(st.Percent, 64); err == nil && p > 0 && p < 100 {
				percents[st.Percent] = true
				if len(percents) == 2 {
					screenshot(t, ctx, "job-running")
				}
			}
		}
		maxLines = max(maxLines, st.Lines)
		if strings.Contains(st.Status, "succeeded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job page after 90 s: %+v\nagent log:\n%s", st, e.agentLogs())
		}
		time.Sleep(150 * time.Millisecond)
	}
	if len(percents) < 2 {
		t.Fatalf("the progress bar did not move while the backup ran (saw %v)", percents)
	}
	waitJS(t, ctx, "log lines on the job page", `document.querySelectorAll('#job-log > *').length > 0`, 10*time.Second)
	if maxLines == 0 {
		t.Fatal("no log line appeared on the job page while the backup ran")
	}
	waitJS(t, ctx, "the summary with the snapshot", `document.querySelector('#job-summary #job-snapshot') !== null`, 10*time.Second)
	screenshot(t, ctx, "job-finished")
	var summary string
	var marker int
	browse(t, ctx,
		chromedp.Text(`#job-summary`, &summary, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload || 0`, &marker),
	)
	if marker != 7 {
		t.Fatal("the job page reloaded; it must update in place over SSE")
	}
	j := e.latestJob("backup")
	if j.Status != "succeeded" || !strings.Contains(summary, j.SnapshotID[:8]) || !strings.Contains(summary, "6") {
		t.Fatalf("summary %q for job %+v", summary, j)
	}
}
