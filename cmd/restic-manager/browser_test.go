package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// browser is the one headless Chromium the package's browser tests share
// (starting one costs seconds under load); each test gets its own browser
// context in it (newBrowser), so no cookie or storage crosses tests.
var browser struct {
	once   sync.Once
	ctx    context.Context // the browser's first tab: parent of every test's context
	cancel func()
	err    error
}

// browserTabs bounds the browser tests that run at once: each renders its
// pages in the one shared Chromium, which on two cores answers within the
// tests' deadlines for a few tabs at a time, not for every parallel test.
// A test holds its slot from newBrowser until it ends, so it calls
// newBrowser after its setup (server, agent, repository, backups): a slot
// held through a setup kept another browser test, and the test slot it
// waited in, idle.
var browserTabs = make(chan struct{}, 2)

// newBrowser opens a tab in a fresh browser context (its own cookies,
// storage and cache, like an incognito window) of the shared headless
// Debian Chromium, closed when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := agenttest.RequireBinary(t, "chromium", "chromium-browser", "google-chrome")
	browserTabs <- struct{}{}
	t.Cleanup(func() { <-browserTabs })
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(exe),
			chromedp.NoSandbox, // CI runs as root
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.WindowSize(1280, 900),
			// Its start, every test's first use, waits for busy cores
			// (chromedp's default allows 20 s).
			chromedp.WSURLReadTimeout(90*time.Second),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		browser.ctx, browser.cancel = ctx, func() { cancel(); cancelAlloc() }
		browser.err = chromedp.Run(ctx)
	})
	if browser.err != nil {
		t.Fatalf("start chromium: %v", browser.err)
	}
	// chromedp.WithNewBrowserContext's tab fails in headless Chromium ("no
	// browser is open"): the tab must open in a new window of its own.
	var bc cdp.BrowserContextID
	var tab target.ID
	err := chromedp.Run(browser.ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		ex := cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser)
		var err error
		if bc, err = target.CreateBrowserContext().Do(ex); err != nil {
			return err
		}
		tab, err = target.CreateTarget("about:blank").WithBrowserContextID(bc).WithNewWindow(true).Do(ex)
		return err
	}))
	if err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithTargetID(tab))
	t.Cleanup(func() {
		cancel() // closes the tab
		_ = chromedp.Run(browser.ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			return target.DisposeBrowserContext(bc).Do(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
		}))
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("open a browser tab: %v", err)
	}
	return ctx
}

// closeBrowser ends the shared Chromium, if a test started it (TestMain).
func closeBrowser() {
	if browser.cancel != nil {
		browser.cancel()
	}
}

// browse runs chromedp actions with a deadline (generous: other tests run
// beside the browser's on the same cores).
func browse(t *testing.T, ctx context.Context, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// waitJS polls a JavaScript boolean expression in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	waitFor(t, what, timeout, func() bool {
		var ok bool
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return chromedp.Run(c, chromedp.Evaluate(expr, &ok)) == nil && ok
	})
}

// screenshot saves the page to $RM_TEST_SCREENSHOTS/name.png when that is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("RM_TEST_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	browse(t, ctx, chromedp.FullScreenshot(&png, 100))
	_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

var tokenRE = regexp.MustCompile(`--token '?(rme_[A-Za-z0-9_-]+)'?`)

// TestBrowserEnrollAndWatchHostOnline: sign in, create a token on the Enroll
// page, enroll and start the real agent with the command's token and pinned
// fingerprint, and watch the host appear and go online (then offline) on the
// dashboard without a reload.
func TestBrowserEnrollAndWatchHostOnline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := startServer(t, filepath.Join(dir, "data"), "127.0.0.1:0")
	base := m.HTTPURL()

	ctx := newBrowser(t)
	browse(t, ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, m.AdminPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet`, chromedp.ByQuery), // the dashboard, signed in
	)
	var loc string
	browse(t, ctx, chromedp.Location(&loc))
	if strings.Contains(loc, "/login") {
		var body string
		browse(t, ctx, chromedp.Text(`body`, &body, chromedp.ByQuery))
		t.Fatalf("still on the login page %s:\n%s", loc, body)
	}
	screenshot(t, ctx, "dashboard-empty")

	// Create a token on the Enroll page; the page shows the one-line command.
	var pageText string
	browse(t, ctx,
		chromedp.Navigate(base+"/enroll"),
		chromedp.WaitVisible(`#host_name`, chromedp.ByQuery),
		chromedp.SendKeys(`#host_name`, "branch-office-nas", chromedp.ByQuery),
		chromedp.Submit(`#host_name`, chromedp.ByQuery),
		chromedp.WaitVisible(`#created-title`, chromedp.ByQuery),
		chromedp.Text(`body`, &pageText, chromedp.ByQuery),
	)
	screenshot(t, ctx, "enroll-commands")
	match := tokenRE.FindStringSubmatch(pageText)
	if match == nil {
		t.Fatalf("no token in the enroll page:\n%s", pageText)
	}
	fp := m.TLS().Fingerprint
	if !strings.Contains(pageText, fp) {
		t.Fatalf("the enroll command does not pin the CA fingerprint %s", fp)
	}

	// Open the dashboard and mark the page: a reload would lose the marker.
	browse(t, ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#fleet`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload = 42`, nil),
	)

	cfgPath := filepath.Join(dir, "agent.yaml")
	enroll := exec.Command(agentBin, "enroll", "--server", base, "--token", match[1], "--ca-fingerprint", fp,
		"--config", cfgPath, "--state-dir", filepath.Join(dir, "state"))
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	hosts, err := m.Service().ListHosts(t.Context())
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts %+v %v", hosts, err)
	}
	row := fmt.Sprintf(`document.querySelector('#host-%s')`, hosts[0].ID)
	badge := row + `?.querySelector('.badge')?.textContent.trim().toLowerCase()`
	waitJS(t, ctx, "the new host's row to appear", row+` !== null`, 15*time.Second)

	agent := startAgent(t, cfgPath)
	waitJS(t, ctx, "the host to show online", badge+` === 'online'`, 20*time.Second)
	screenshot(t, ctx, "dashboard-online")
	if os.Getenv("RM_TEST_SCREENSHOTS") != "" { // the same page on a phone
		browse(t, ctx, chromedp.EmulateViewport(390, 844))
		screenshot(t, ctx, "dashboard-phone")
		browse(t, ctx, chromedp.EmulateViewport(1280, 900))
	}

	agent.stop(syscall.SIGTERM)
	defer func() {
		var html string
		_ = chromedp.Run(ctx, chromedp.Evaluate(row+`?.outerHTML`, &html))
		t.Logf("row: %s", html)
		h, _ := m.Service().GetHost(t.Context(), hosts[0].ID)
		t.Logf("host: %+v", h)
	}()
	waitJS(t, ctx, "the host to show offline", badge+` === 'offline'`, 20*time.Second)

	var marker int
	browse(t, ctx, chromedp.Evaluate(`window.__noReload || 0`, &marker))
	if marker != 42 {
		t.Fatal("the dashboard reloaded; it must update in place over SSE")
	}

	// The danger zone: revoke the host by typing its name.
	browse(t, ctx,
		chromedp.Navigate(base+"/hosts/"+hosts[0].ID),
		chromedp.WaitVisible(`#confirm_name`, chromedp.ByQuery),
	)
	screenshot(t, ctx, "host-page")
	browse(t, ctx,
		chromedp.SendKeys(`#confirm_name`, "branch-office-nas", chromedp.ByQuery),
		chromedp.Submit(`#confirm_name`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet`, chromedp.ByQuery),
	)
	waitJS(t, ctx, "the revoked notice and the row gone",
		`document.body.innerText.includes("Revoked.") && `+row+` === null`, 10*time.Second)
}
