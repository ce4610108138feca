package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserHostCharts (#13): with a real agent and restic, two good
// backups, a failed one and a stats run, the host page charts three bars
// per chart (the failure red), the repository's size, and today red on
// the 90-day strip; another backup adds a fourth bar without a reload.
func TestBrowserHostCharts(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "chart-office")
	e.startAgent()
	if init := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	data := makeData(t, filepath.Join(e.dir, "docs"), 4, 256<<10)
	for _, paths := range [][]string{{data}, {data}, {filepath.Join(e.dir, "no-such-folder")}} {
		e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": paths}), 60*time.Second)
	}
	if j := e.latestJob("backup"); j.Status != "failed" {
		t.Fatalf("the backup of a missing folder: %+v", j)
	}
	if st := e.waitJob(e.runJob(map[string]any{"kind": "stats"}), 60*time.Second); st.Status != "succeeded" {
		t.Fatalf("stats job: %+v\nagent log:\n%s", st, e.agentLogs())
	}

	ctx := newBrowser(t)
	signIn(t, ctx, e.m)
	browse(t, ctx,
		chromedp.Navigate(e.m.HTTPURL()+"/hosts/"+e.hostID),
		chromedp.WaitVisible(`#chart-added`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload = 13`, nil),
	)
	var got struct {
		Added    []string `json:"added"`
		Duration int      `json:"duration"`
		Red      string   `json:"red"`
		Size     int      `json:"size"`
		Strip    int      `json:"strip"`
		Today    string   `json:"today"`
		TodayFil string   `json:"todayFill"`
	}
	read := func() {
		t.Helper()
		browse(t, ctx, chromedp.Evaluate(`(() => {
			const added = [...document.querySelectorAll('#chart-added rect.bar')];
			const strip = [...document.querySelectorAll('#chart-strip rect')];
			const failed = added.find(r => r.dataset.status === 'failed');
			return {
				added: added.map(r => r.dataset.status),
				duration: document.querySelectorAll('#chart-duration rect.bar').length,
				red: failed ? getComputedStyle(failed).fill : '',
				size: document.querySelectorAll('#chart-size circle.point').length,
				strip: strip.length,
				today: strip.length ? strip[strip.length-1].dataset.status : '',
				todayFill: strip.length ? getComputedStyle(strip[strip.length-1]).fill : '',
			};
		})()`, &got))
	}
	read()
	screenshot(t, ctx, "host-charts")
	const red = "rgb(220, 38, 38)"
	if len(got.Added) != 3 || got.Added[0] != "succeeded" || got.Added[1] != "succeeded" || got.Added[2] != "failed" || got.Duration != 3 {
		t.Fatalf("bars: %+v", got)
	}
	if got.Red != red || got.Today != "failed" || got.TodayFil != red {
		t.Errorf("the failure is not red: bar %q, today %q %q", got.Red, got.Today, got.TodayFil)
	}
	if got.Size != 1 || got.Strip != 90 {
		t.Errorf("size points %d, strip days %d; want 1 and 90", got.Size, got.Strip)
	}

	// Another backup: the charts follow it live.
	e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{data}}), 60*time.Second)
	waitJS(t, ctx, "a fourth bar on the host page", `document.querySelectorAll('#chart-added rect.bar').length === 4`, 30*time.Second)
	read()
	var marker int
	browse(t, ctx, chromedp.Evaluate(`window.__noReload || 0`, &marker))
	if marker != 13 {
		t.Fatal("the host page reloaded; its charts must update in place")
	}
	if got.Added[3] != "succeeded" || got.Duration != 4 {
		t.Errorf("after the fourth backup: %+v", got)
	}
}
