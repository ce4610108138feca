package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
)

// TestBrowserFleetBackupByTag (#12.5), end to end: two hosts are tagged
// site:lyon with the CLI — one runs the real agent with a local
// repository, the other never connected (its repository waits for its init)
// — and a third is tagged site:paris. In real Chromium the admin filters
// the fleet by the tag, chooses "every host tagged site:lyon", types the
// paths and a per-run upload limit and presses Back up now (a box ticked by
// hand stays ticked while its row changes live). The result card
// lists one job per lyon host, each host row shows its job, the online
// host's job runs with real restic (the limit on its command line, the
// snapshot in the repository) and its row in the card turns succeeded
// live; the offline host's job stays queued with the usual 24-hour expiry;
// the paris host got nothing.
func TestBrowserFleetBackupByTag(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "lyon-1")
	e.startAgent()
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	svc := e.m.Service()
	enroll := func(name string) string {
		tok := cli(t, "", "token", "create", "--host", name, "--data", e.dataDir)
		res, err := svc.Enroll(t.Context(), server.EnrollRequest{Token: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		return res.HostID
	}
	offline, paris := enroll("lyon-2"), enroll("paris-1")
	if code := e.api().do("PUT", "/api/v1/hosts/"+offline+"/repository", map[string]any{"url": filepath.Join(e.dir, "repo-2"), "password": repoPassword}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("lyon-2's repository: HTTP %d", code)
	}
	cli(t, "", "host", "tag", "lyon-1", "add", "site:lyon", "server", "--data", e.dataDir)
	cli(t, "", "host", "tag", offline, "add", "Site:Lyon", "--data", e.dataDir)
	cli(t, "", "host", "tag", "paris-1", "set", "site:paris", "--data", e.dataDir)
	// The CLI reads the presence the server flushed to the store (once a
	// second; later on a loaded machine: a clean-clone run once saw lyon-1
	// still never-connected here), so it asks until lyon-1 shows online.
	var out string
	listed := func() bool {
		out = cli(t, "", "host", "list", "--tag", "site:lyon", "--data", e.dataDir)
		return strings.Count(out, "\n") == 1 && strings.Contains(out, "lyon-1\t"+e.hostID+"\tonline\tserver,site:lyon") &&
			strings.Contains(out, "lyon-2\t"+offline+"\tnever-connected\tsite:lyon")
	}
	deadline := time.Now().Add(20 * time.Second)
	for !listed() {
		if time.Now().After(deadline) {
			t.Fatalf("host list --tag site:lyon after 20 s:\n%s", out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	data := makeData(t, filepath.Join(e.dir, "projects"), 3, 1<<20)

	ctx := newBrowser(t)
	signIn(t, ctx, e.m)
	var rows string
	browse(t, ctx,
		chromedp.Navigate(e.m.HTTPURL()+"/?tag=site:lyon"),
		chromedp.WaitVisible(`#fleet-form`, chromedp.ByQuery),
		chromedp.Text(`#host-rows`, &rows, chromedp.ByQuery),
	)
	if !strings.Contains(rows, "lyon-1") || !strings.Contains(rows, "lyon-2") || strings.Contains(rows, "paris-1") ||
		!strings.Contains(rows, "site:lyon") {
		t.Fatalf("the fleet filtered by site:lyon shows:\n%s", rows)
	}
	// The header box ticks every host the filter shows, and unticks them.
	var ticks []bool
	browse(t, ctx, chromedp.Click(`#pick-all`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#host-rows input[name=host_id]')].map(b => b.checked)`, &ticks))
	if len(ticks) != 2 || !ticks[0] || !ticks[1] {
		t.Fatalf("after ticking the header box: %v", ticks)
	}
	browse(t, ctx, chromedp.Click(`#pick-all`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#host-rows input[name=host_id]')].map(b => b.checked)`, &ticks))
	if len(ticks) != 2 || ticks[0] || ticks[1] {
		t.Fatalf("after unticking the header box: %v", ticks)
	}
	browse(t, ctx,
		// A ticked box (by hand) must stay ticked while its row changes live.
		chromedp.Click(`#pick-`+e.hostID, chromedp.ByQuery),
		chromedp.SetValue(`#fleet-tag`, "site:lyon", chromedp.ByQuery),
		chromedp.Click(`input[name="target"][value="tag"]`, chromedp.ByQuery),
		chromedp.Click(`#fleet-actions details:first-of-type summary`, chromedp.ByQuery),
		chromedp.SendKeys(`#fleet-paths`, data, chromedp.ByQuery),
		chromedp.Click(`#fleet-actions details.disclosure:last-of-type summary`, chromedp.ByQuery),
		chromedp.SendKeys(`#fleet-bw-up`, "4096", chromedp.ByQuery),
		chromedp.Click(`#fleet-form button[value="backup"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet-result-card`, chromedp.ByQuery),
	)
	screenshot(t, ctx, "fleet-backup-result")

	online := e.latestJob("backup")
	var offJobs struct {
		Jobs []jobJSON `json:"jobs"`
	}
	if code := e.api().do("GET", "/api/v1/jobs?kind=backup&host="+offline, nil, &offJobs); code != http.StatusOK || len(offJobs.Jobs) != 1 {
		t.Fatalf("lyon-2's backups: HTTP %d %+v", code, offJobs.Jobs)
	}
	offJob := offJobs.Jobs[0]
	if online.ID == 0 {
		t.Fatal("lyon-1 got no backup")
	}
	for host, id := range map[string]int64{e.hostID: online.ID, offline: offJob.ID} {
		waitJS(t, ctx, fmt.Sprintf("the result card and the host row to show job %d", id), fmt.Sprintf(
			`!!document.querySelector('#fleet-job-%d') && !!document.querySelector('#host-%s a[href="/jobs/%d"]')`, id, host, id), 10*time.Second)
	}
	waitJS(t, ctx, "lyon-1's job to turn succeeded in the card, live",
		fmt.Sprintf(`document.querySelector('#fleet-job-%d').textContent.includes('succeeded')`, online.ID), 90*time.Second)
	waitJS(t, ctx, "lyon-1's row to show its backup succeeded, live", fmt.Sprintf(
		`document.querySelector('#host-%s').textContent.includes('succeeded')`, e.hostID), 10*time.Second)
	var ticked bool
	browse(t, ctx, chromedp.Evaluate(`document.querySelector('#pick-`+e.hostID+`').checked`, &ticked))
	if !ticked {
		t.Error("lyon-1's ticked box was unticked when its row changed live")
	}
	if done := e.job(online.ID); done.Status != "succeeded" || done.SnapshotID == "" {
		t.Fatalf("lyon-1's backup: %+v\n%s", done, e.agentLogs())
	}
	if calls := e.resticCalls("backup"); len(calls) != 1 || !strings.Contains(calls[0], "--limit-upload=4096") || !strings.Contains(calls[0], data) {
		t.Errorf("restic backup calls: %q", calls)
	}
	if snaps := repoSnapshots(t, repo, repoPassword); len(snaps) != 1 {
		t.Errorf("snapshots in lyon-1's repository: %v", snaps)
	}

	j, err := svc.GetJob(t.Context(), offJob.ID)
	if err != nil || j.Status != "queued" || j.ExpiresAt.Sub(j.CreatedAt) != server.DefaultJobExpiry {
		t.Errorf("lyon-2's job: %+v %v, want queued for the usual %s", j, err, server.DefaultJobExpiry)
	}
	if n, _ := svc.ListJobs(t.Context(), server.JobFilter{HostID: paris}); len(n) != 0 {
		t.Errorf("paris-1 got jobs: %+v", n)
	}
	var card string
	browse(t, ctx, chromedp.Text(`#fleet-result-card`, &card, chromedp.ByQuery))
	if !strings.Contains(card, "Back up now on 2 host(s)") || !strings.Contains(card, "2 job(s) queued, 0 host(s) refused.") ||
		!strings.Contains(card, "their job waits for them: lyon-2") {
		t.Errorf("result card:\n%s", card)
	}
	rowsAudit, err := svc.ListAudit(t.Context(), server.AuditFilter{Action: "fleet.action"})
	if err != nil || len(rowsAudit) != 1 || !strings.Contains(rowsAudit[0].Details, `"tag":"site:lyon"`) {
		t.Errorf("fleet.action audit rows: %+v %v", rowsAudit, err)
	}
}
