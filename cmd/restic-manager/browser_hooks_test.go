package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
)

// TestBrowserHooks (#10): as admin, set `echo hello` as a group's pre hook
// on its page, press Run now and see "hook: hello" arrive in the live log,
// marked as a hook line; as an operator the same page shows the hook
// fields read-only, saying a hook is set without showing it.
func TestBrowserHooks(t *testing.T) {
	t.Parallel()
	e := newJobEnv(t, "web-shop")
	e.startAgent()
	if init := e.setReadyRepository(filepath.Join(e.dir, "repo"), repoPassword); init.Status != "succeeded" {
		t.Fatalf("init: %+v", init)
	}
	g := e.createGroup(map[string]any{"name": "site", "paths": []string{makeData(t, filepath.Join(e.dir, "site"), 2, 1024)}})
	groupPage := fmt.Sprintf("%s/hosts/%s/source-groups/%d", e.m.HTTPURL(), e.hostID, g.ID)
	ctx := newBrowser(t)
	signIn(t, ctx, e.m)

	browse(t, ctx,
		chromedp.Navigate(groupPage),
		chromedp.WaitReady(`#source-group-form`, chromedp.ByQuery),
		chromedp.Click(`#sg-hooks-box > summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sg-pre-hook`, chromedp.ByQuery),
		chromedp.SetValue(`#sg-pre-hook`, "echo hello", chromedp.ByQuery),
	)
	var banner string
	browse(t, ctx, chromedp.Text(`#sg-hooks .alert`, &banner, chromedp.ByQuery))
	if !strings.Contains(banner, "This runs as the agent's service user — root on Linux, LocalSystem on Windows.") {
		t.Fatalf("hook banner: %q", banner)
	}
	screenshot(t, ctx, "group-hooks-admin")
	browse(t, ctx,
		chromedp.Click(`#source-group-form button.btn-primary[type=submit]`, chromedp.ByQuery),
		chromedp.WaitReady(`#backup-now`, chromedp.ByQuery), // the host page: the save went through
	)
	e.waitConfigApplied()
	browse(t, ctx,
		chromedp.Navigate(groupPage),
		chromedp.WaitVisible(`section[aria-labelledby=run-title] button[type=submit]`, chromedp.ByQuery),
		chromedp.Click(`section[aria-labelledby=run-title] button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitReady(`#job-log`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload = 10`, nil),
	)
	defer func() {
		if t.Failed() {
			j := e.latestJob("backup")
			var page string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#job-log')?.outerHTML || location.href`, &page))
			st, _ := e.m.Service().GetConfigStatus(t.Context(), e.hostID)
			t.Logf("latest backup %+v\nlog:\n%s\npage: %s\nconfig %+v\nagent log:\n%s", j, strings.Join(e.jobLog(j.ID), "\n"), page, st, e.agentLogs())
		}
	}()
	waitJS(t, ctx, `"hook: hello" in the live log`,
		`[...document.querySelectorAll('#job-log > .ln-hook')].some(l => l.textContent === 'hook: hello')`, 60*time.Second)
	var marker int
	browse(t, ctx, chromedp.Evaluate(`window.__noReload || 0`, &marker))
	if marker != 10 {
		t.Fatal("the job page reloaded; the hook's line must arrive live")
	}
	screenshot(t, ctx, "job-hook-line")

	// The operator's view: read-only, "set", no body.
	ottoPassword := addUser(t, e.m, "otto", server.RoleOperator)
	browse(t, ctx,
		chromedp.ActionFunc(func(ctx context.Context) error { return network.ClearBrowserCookies().Do(ctx) }),
		chromedp.Navigate(e.m.HTTPURL()+"/login"),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "otto", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, ottoPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet`, chromedp.ByQuery),
		chromedp.Navigate(groupPage),
		chromedp.WaitReady(`#sg-pre-hook`, chromedp.ByQuery),
		chromedp.Click(`#sg-hooks-box > summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sg-pre-hook`, chromedp.ByQuery),
	)
	var view struct {
		ReadOnly    bool   `json:"readOnly"`
		Value       string `json:"value"`
		Placeholder string `json:"placeholder"`
		Named       int    `json:"named"`
		Timeout     bool   `json:"timeout"`
		HTML        string `json:"html"`
	}
	browse(t, ctx, chromedp.Evaluate(`(() => {
		const pre = document.querySelector('#sg-pre-hook');
		return {readOnly: pre.readOnly || pre.disabled, value: pre.value, placeholder: pre.placeholder,
			named: document.querySelectorAll('[name=pre_hook], [name=post_hook]').length,
			timeout: document.querySelector('#sg-hook-timeout').readOnly,
			html: document.documentElement.outerHTML};
	})()`, &view))
	screenshot(t, ctx, "group-hooks-operator")
	if !view.ReadOnly || view.Value != "" || !strings.Contains(view.Placeholder, "set") || view.Named != 0 || !view.Timeout ||
		strings.Contains(view.HTML, "echo hello") {
		t.Fatalf("operator's hook fields: readOnly %v value %q placeholder %q named %d timeout read-only %v",
			view.ReadOnly, view.Value, view.Placeholder, view.Named, view.Timeout)
	}
}
