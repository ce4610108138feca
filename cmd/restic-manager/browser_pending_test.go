package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestBrowserPendingHostLive: a machine announces while the dashboard is
// open; the Pending hosts panel appears without a reload; a name being typed
// survives another machine announcing; Accept moves it into the host table.
func TestBrowserPendingHostLive(t *testing.T) {
	t.Parallel()
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0")
	base := m.HTTPURL()
	pub := &servertest.Publisher{}
	m.Service().SetPublisher(pub) // read the challenge without an MQTT client
	ctx := newBrowser(t)
	browse(t, ctx,
		// Note when the page's event stream opens, so the test announces only
		// once the page can hear about it.
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(`document.addEventListener("htmx:sseOpen", () => { window.rmStreamOpen = true })`).Do(ctx)
			return err
		}),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, m.AdminPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet`, chromedp.ByQuery),
		chromedp.Evaluate(`window.rmMarker = 1`, nil),
	)
	waitJS(t, ctx, "the event stream to open", `window.rmStreamOpen === true`, 10*time.Second)
	agent := servertest.NewPendingAgent(t, "till-3.shop.lan")
	if st := agent.Announce(t, m.Service(), pub, 1, "203.0.113.7:5000"); st == nil {
		t.Fatal("no status")
	}
	fp := agent.Fingerprint()
	waitJS(t, ctx, "panel appears live", `document.querySelector("#pending").innerText.includes("till-3.shop.lan") && window.rmMarker === 1`, 10*time.Second)
	var id string
	browse(t, ctx, chromedp.Evaluate(`document.querySelector("#pending input[name=name]").id`, &id))
	browse(t, ctx, chromedp.Evaluate(`document.getElementById("`+id+`").value = ""`, nil), chromedp.SendKeys("#"+id, "till-03", chromedp.ByQuery))
	servertest.NewPendingAgent(t, "kiosk").Announce(t, m.Service(), pub, 2, "203.0.113.8:5000")
	waitJS(t, ctx, "second machine", `document.querySelector("#pending").innerText.includes("kiosk")`, 10*time.Second)
	var typed string
	browse(t, ctx, chromedp.Evaluate(`document.getElementById("`+id+`").value`, &typed))
	if typed != "till-03" {
		t.Errorf("typed name lost on re-read: %q", typed)
	}
	var text string
	browse(t, ctx, chromedp.Evaluate(`document.querySelector("#pending code").innerText`, &text))
	if text != fp {
		t.Errorf("the panel's fingerprint reads %q, want %q (a copy must have no spaces)", text, fp)
	}
	screenshot(t, ctx, "pending-desktop")
	browse(t, ctx, chromedp.EmulateViewport(390, 844))
	screenshot(t, ctx, "pending-phone")
	browse(t, ctx, chromedp.EmulateViewport(1280, 900))
	browse(t, ctx, chromedp.Click(`#pending form[action$="/accept"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.alert-ok`, chromedp.ByQuery))
	var body string
	browse(t, ctx, chromedp.Text(`#fleet`, &body, chromedp.ByQuery))
	if !strings.Contains(body, "till-03") {
		t.Errorf("accepted host not in the table:\n%s", body)
	}
	screenshot(t, ctx, "pending-accepted")
}
