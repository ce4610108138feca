package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// hostDrillJSON is a host's last_drill as the API shows it.
type hostDrillJSON struct {
	LastDrill *struct {
		Job    int64     `json:"job"`
		Status string    `json:"status"`
		At     time.Time `json:"at"`
	} `json:"last_drill"`
}

// TestDrillEndToEnd (#14): through the real server and agent with the real
// restic, a drill schedule is stored and sent; a drill asked through the
// API passes on a healthy repository and the host (API and page) shows
// "restore verified" with its date; after a data pack of the repository is
// damaged, the next drill is a failed job whose reason names a file, the
// host shows the failure, and the agent's scratch directory is gone.
func TestDrillEndToEnd(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "drill-office")
	e.startAgent()
	repo := filepath.Join(e.dir, "repo")
	if init := e.setReadyRepository(repo, repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	src := makeData(t, filepath.Join(e.dir, "src"), 20, 8<<10)
	if j := e.waitJob(e.runJob(map[string]any{"kind": "backup", "paths": []string{src}}), time.Minute); j.Status != "succeeded" {
		t.Fatalf("backup: %+v", j)
	}
	scratch := filepath.Join(e.dir, "agent", "state", "drill-scratch")
	host := func() hostDrillJSON {
		var h hostDrillJSON
		if code := e.api().do("GET", "/api/v1/hosts/"+e.hostID, nil, &h); code != http.StatusOK {
			t.Fatalf("GET host: HTTP %d", code)
		}
		return h
	}
	hostPage := func() string {
		u, err := e.m.Service().UserByName(t.Context(), "admin")
		if err != nil {
			t.Fatal(err)
		}
		cookie, _, err := e.m.Service().CreateSession(t.Context(), u, "127.0.0.1", "drill test")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.m.HTTPURL()+"/hosts/"+e.hostID, nil)
		req.AddCookie(&http.Cookie{Name: "rm_session", Value: cookie})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("host page: HTTP %d", res.StatusCode)
		}
		return string(body)
	}

	t.Run("schedule", func(t *testing.T) {
		var sc struct {
			ID         int64  `json:"id"`
			Kind       string `json:"kind"`
			DrillFiles int    `json:"drill_files"`
		}
		body := map[string]any{"kind": "drill", "cron": "0 4 * * 0", "drill_files": 5, "drill_max_mb": 10}
		if code := e.api().do("POST", "/api/v1/hosts/"+e.hostID+"/schedules", body, &sc); code != http.StatusCreated || sc.Kind != "drill" || sc.DrillFiles != 5 {
			code, raw := e.api().send("POST", "/api/v1/hosts/"+e.hostID+"/schedules", body)
			t.Fatalf("drill schedule: HTTP %d %s", code, raw)
		}
		e.waitConfigApplied()
		bad := map[string]any{"kind": "drill", "cron": "@weekly", "drill_files": 1000}
		if code, raw := e.api().send("POST", "/api/v1/hosts/"+e.hostID+"/schedules", bad); code != http.StatusBadRequest || !strings.Contains(string(raw), "files") {
			t.Fatalf("a drill of 1000 files: HTTP %d %s", code, raw)
		}
	})

	t.Run("healthy", func(t *testing.T) {
		if h := host(); h.LastDrill != nil {
			t.Fatalf("a drill before any ran: %+v", h.LastDrill)
		}
		j := e.waitJob(e.runJob(map[string]any{"kind": "drill", "drill": map[string]any{"files": 8}}), time.Minute)
		if j.Status != "succeeded" {
			t.Fatalf("drill: %+v\n%s", j, strings.Join(e.jobLog(j.ID), "\n"))
		}
		h := host()
		if h.LastDrill == nil || h.LastDrill.Job != j.ID || h.LastDrill.Status != "succeeded" || time.Since(h.LastDrill.At) > time.Minute {
			t.Fatalf("host's last drill %+v, want job %d succeeded just now", h.LastDrill, j.ID)
		}
		if page := hostPage(); !strings.Contains(page, "restore verified ✓") || !strings.Contains(page, "Run drill now") {
			t.Fatal("the host page shows no verified restore or no drill button")
		}
		if _, err := os.Stat(scratch); !os.IsNotExist(err) {
			t.Fatalf("scratch directory left behind: %v", err)
		}
	})

	t.Run("browser", func(t *testing.T) {
		// The host page's Run drill now, then the badge on the page.
		before := host().LastDrill.Job
		ctx := newBrowser(t)
		signIn(t, ctx, e.m)
		browse(t, ctx,
			chromedp.Navigate(e.m.HTTPURL()+"/hosts/"+e.hostID),
			chromedp.WaitVisible(`[data-drill="succeeded"]`, chromedp.ByQuery),
			chromedp.Click(`form:has(input[name=kind][value=drill]) button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitReady(`#job-log`, chromedp.ByQuery),
		)
		j := e.latestJob("drill")
		if j.ID == before {
			t.Fatal("Run drill now queued no drill")
		}
		if j = e.waitJob(j.ID, time.Minute); j.Status != "succeeded" {
			t.Fatalf("drill from the page: %+v", j)
		}
		var badge string
		browse(t, ctx,
			chromedp.Navigate(e.m.HTTPURL()+"/hosts/"+e.hostID),
			chromedp.WaitVisible(`[data-drill="succeeded"]`, chromedp.ByQuery),
			chromedp.Text(`[data-drill="succeeded"]`, &badge, chromedp.ByQuery),
		)
		if !strings.Contains(badge, "restore verified ✓") {
			t.Fatalf("host page drill badge %q", badge)
		}
		if !strings.Contains(hostPage(), fmt.Sprintf(`href="/jobs/%d">restore verified`, j.ID)) {
			t.Fatalf("the badge does not link the newest drill, job %d", j.ID)
		}
	})

	t.Run("damaged pack", func(t *testing.T) {
		agenttest.DamageLargestPack(t, repo)
		j := e.waitJob(e.runJob(map[string]any{"kind": "drill", "drill": map[string]any{"files": 20}}), time.Minute)
		if j.Status != "failed" || !strings.HasPrefix(j.Reason, "restore drill failed: "+src) {
			t.Fatalf("drill of a damaged repository: %+v", j)
		}
		if h := host(); h.LastDrill == nil || h.LastDrill.Job != j.ID || h.LastDrill.Status != "failed" {
			t.Fatalf("host's last drill %+v, want job %d failed", h.LastDrill, j.ID)
		}
		if page := hostPage(); !strings.Contains(page, "restore drill failed") {
			t.Fatal("the host page does not show the failed drill")
		}
		if _, err := os.Stat(scratch); !os.IsNotExist(err) {
			t.Fatalf("scratch directory left behind after a failure: %v", err)
		}
	})
}
