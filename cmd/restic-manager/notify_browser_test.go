package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/server"
)

// TestBrowserNotificationChannel: an admin opens Notifications from the
// nav, adds a webhook channel to a receiver on loopback, presses Test, and
// sees the delivery listed as sent; the page never shows the URL's path or
// the secret again. Then renames the channel through its edit form.
func TestBrowserNotificationChannel(t *testing.T) {
	t.Parallel()
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0")
	rcv := newWebhookReceiver(t)
	ctx := newBrowser(t)
	signIn(t, ctx, m)
	openDashboard(t, ctx, m)

	var channels string
	browse(t, ctx,
		chromedp.Click(`a[href="/admin/notifications"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#channel_name`, chromedp.ByQuery),
		chromedp.SendKeys(`#channel_name`, "ops-webhook", chromedp.ByQuery),
		chromedp.SendKeys(`#channel_url`, rcv.srv.URL+"/hook/secret-path-4711", chromedp.ByQuery),
		chromedp.SendKeys(`#channel_secret`, "browser-signing-secret", chromedp.ByQuery),
		chromedp.Submit(`#channel_secret`, chromedp.ByQuery),
		chromedp.WaitVisible(`.alert-ok`, chromedp.ByQuery),
		chromedp.Text(`#channels`, &channels, chromedp.ByQuery),
	)
	if !strings.Contains(channels, "ops-webhook") || !strings.Contains(channels, "job.failed") || !strings.Contains(channels, "(signed)") {
		t.Fatalf("channels table: %q", channels)
	}
	var html string
	browse(t, ctx, chromedp.OuterHTML(`html`, &html, chromedp.ByQuery))
	if strings.Contains(html, "secret-path-4711") || strings.Contains(html, "browser-signing-secret") {
		t.Fatal("the page shows the channel's URL path or secret")
	}

	browse(t, ctx,
		chromedp.Click(`#channels form[action$="/test"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#deliveries`, chromedp.ByQuery),
	)
	waitFor(t, "the test message at the receiver", 10*time.Second, func() bool {
		return rcv.find(func(p server.NotificationPayload) bool { return p.Event == "test" }) != nil
	})
	waitFor(t, "the delivery listed as sent", 10*time.Second, func() bool {
		// The Test button's own page load may still be under way: a load
		// it aborts (net::ERR_ABORTED) is a reason to look again.
		var rows string
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return chromedp.Run(c,
			chromedp.Navigate(m.HTTPURL()+"/admin/notifications"),
			chromedp.WaitVisible(`#deliveries`, chromedp.ByQuery),
			chromedp.Text(`#deliveries tbody`, &rows, chromedp.ByQuery),
		) == nil && strings.Contains(rows, "ops-webhook") && strings.Contains(rows, "test") && strings.Contains(rows, "sent")
	})
	screenshot(t, ctx, "notifications-channel-tested")

	// Rename it through its edit form; the URL and secret stay empty (kept).
	browse(t, ctx,
		chromedp.Click(`#channels details summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#channels details form input[name="name"]`, chromedp.ByQuery),
		chromedp.SetValue(`#channels details form input[name="name"]`, "ops-renamed", chromedp.ByQuery),
		chromedp.Submit(`#channels details form input[name="name"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.alert-ok`, chromedp.ByQuery),
		chromedp.Text(`#channels`, &channels, chromedp.ByQuery),
	)
	if !strings.Contains(channels, "ops-renamed") || !strings.Contains(channels, "(signed)") {
		t.Fatalf("channels table after the rename: %q", channels)
	}
}
