package main

import (
	"context"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// signIn signs the browser in as the admin: the sign-in form is posted over
// HTTP (its CSRF token, the password check, the session the server makes)
// and the session cookie goes into the tab's browser context, so the page
// the test opens next is the browser's first page load; the form's own
// pages cost a browser test two loads it did not test. The form in the
// browser is tested by TestBrowserEnrollAndWatchHostOnline and
// TestBrowserChangeOwnPassword (signInThroughForm).
func signIn(t *testing.T, ctx context.Context, m *Main) {
	t.Helper()
	base, err := url.Parse(m.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	var cookies []*network.CookieParam
	for _, c := range signInHTTP(t, m.HTTPURL(), "admin", m.AdminPassword).http.Jar.Cookies(base) {
		cookies = append(cookies, &network.CookieParam{Name: c.Name, Value: c.Value, URL: m.HTTPURL() + "/",
			HTTPOnly: true, SameSite: network.CookieSameSiteLax})
	}
	if len(cookies) == 0 {
		t.Fatal("signing in over HTTP set no cookie")
	}
	browse(t, ctx, network.SetCookies(cookies))
}

// signInThroughForm signs the browser in as the admin with the sign-in
// form and waits for the dashboard.
func signInThroughForm(t *testing.T, ctx context.Context, m *Main) {
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

// openDashboard opens the dashboard (the page a sign-in lands on).
func openDashboard(t *testing.T, ctx context.Context, m *Main) {
	t.Helper()
	browse(t, ctx, chromedp.Navigate(m.HTTPURL()+"/"), chromedp.WaitVisible(`#fleet`, chromedp.ByQuery))
}

// TestBrowserBackupNow: on the host page press "Back up now" (with a
// bandwidth limit for this run, so the backup lasts a few seconds), land on
// the job page and watch log lines arrive and the progress bar move without
// a reload, then see the summary with the snapshot.
func TestBrowserBackupNow(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "design-studio")
	// restic counts a file done once its blobs are in a pack, and with its
	// default 16 MiB packs the 48 MiB below fill the two uploads and the
	// pack being filled at once: on a quick machine the bar jumps to 99 %
	// within the first progress tick and waits there for the uploads. With
	// 4 MiB packs (restic's own setting, passed on by the agent), reading
	// waits for the bandwidth-capped uploads and the bar moves throughout.
	e.agent = startProc(t, []string{"RESTIC_PACK_SIZE=4"}, agentBin, "run", "--config", e.cfgPath)
	e.waitOnline(30 * time.Second)
	if init := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "projects"), 6, 8<<20)
	ctx := newBrowser(t)
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
		// Every percent the bar shows, as the page shows it: a poll
		// from the test can miss a value the page showed between two
		// polls.
		chromedp.Evaluate(`window.__percents = new Set();
			new MutationObserver(() => {
				const p = document.querySelector('#job-progress progress');
				if (p && p.dataset.percent) window.__percents.add(p.dataset.percent);
			}).observe(document.body, {subtree: true, childList: true, attributes: true});`, nil),
	)

	// While it runs: log lines appear and the bar moves.
	percents := map[string]bool{}
	maxLines := 0
	deadline := time.Now().Add(90 * time.Second)
	for {
		var st struct {
			Status  string   `json:"status"`
			Percent string   `json:"percent"`
			Lines   int      `json:"lines"`
			Seen    []string `json:"seen"`
		}
		browse(t, ctx, chromedp.Evaluate(`({
			status: document.querySelector('#job-status')?.textContent.trim().toLowerCase() || '',
			percent: document.querySelector('#job-progress progress')?.dataset.percent || '',
			lines: document.querySelectorAll('#job-log > *').length,
			seen: Array.from(window.__percents || []),
		})`, &st))
		for _, v := range append(st.Seen, st.Percent) {
			if p, err := strconv.ParseFloat(v, 64); err == nil && p > 0 && p < 100 && !percents[v] {
				percents[v] = true
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
	t.Logf("the progress bar showed %v", slices.Sorted(maps.Keys(percents)))
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

// TestBrowserSourceGroupSchedule (#4): create a source group with a daily
// schedule on the host page, then see "Next: 03:00" in the host's row on
// the dashboard.
func TestBrowserSourceGroupSchedule(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "front-desk")
	e.startAgent()
	if init := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "scans"), 2, 1024)
	ctx := newBrowser(t)
	signIn(t, ctx, e.m)
	browse(t, ctx,
		chromedp.Navigate(e.m.HTTPURL()+"/hosts/"+e.hostID),
		chromedp.WaitReady(`#source-group-form`, chromedp.ByQuery),
		// The form sits in a "New source group" disclosure.
		chromedp.Click(`details:has(#source-group-form) > summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#source-group-form [name=name]`, chromedp.ByQuery),
		chromedp.SetValue(`#source-group-form [name=name]`, "scans", chromedp.ByQuery),
		chromedp.SetValue(`#source-group-form [name=paths]`, data, chromedp.ByQuery),
		chromedp.SetValue(`#source-group-form [name=preset]`, "daily", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#source-group-form [name=preset]').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		chromedp.SetValue(`#source-group-form [name=time]`, "03:00", chromedp.ByQuery),
	)
	screenshot(t, ctx, "source-group-form")
	browse(t, ctx,
		chromedp.Click(`#source-group-form button.btn-primary[type=submit]`, chromedp.ByQuery),
		chromedp.WaitReady(`#group-scans`, chromedp.ByQuery),
	)
	groups, err := e.m.Service().ListSourceGroups(t.Context(), e.hostID)
	if err != nil || len(groups) != 1 || len(groups[0].Schedules) != 1 || !strings.HasPrefix(groups[0].Schedules[0].Cron, "0 3 ") {
		t.Fatalf("stored groups %+v %v", groups, err)
	}
	e.waitConfigApplied()

	browse(t, ctx, chromedp.Navigate(e.m.HTTPURL()+"/"), chromedp.WaitVisible(`#fleet`, chromedp.ByQuery))
	next := `document.querySelector('#host-` + e.hostID + ` .next-run')?.textContent.replace(/\s+/g, ' ').trim() || ''`
	defer func() {
		if t.Failed() {
			var row string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#host-`+e.hostID+`')?.outerHTML || document.body.innerText`, &row))
			t.Logf("dashboard row: %s", row)
		}
	}()
	waitJS(t, ctx, `"Next: 03:00" in the host's row`, `(`+next+`).startsWith('Next: 03:00')`, 10*time.Second)
	screenshot(t, ctx, "dashboard-next-run")
}
