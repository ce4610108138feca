package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserChangeOwnPassword: on the Account page change the password,
// sign out, find the old password refused and sign in with the new one.
func TestBrowserChangeOwnPassword(t *testing.T) {
	t.Parallel()
	m := startServer(t, filepath.Join(t.TempDir(), "data"), "127.0.0.1:0")
	ctx := newBrowser(t)
	signInThroughForm(t, ctx, m)
	const newPassword = "a new admin password from the browser"

	var notice string
	browse(t, ctx,
		chromedp.Click(`#account-link`, chromedp.ByQuery),
		chromedp.WaitVisible(`#password-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#current_password`, m.AdminPassword, chromedp.ByQuery),
		chromedp.SendKeys(`#new_password`, newPassword, chromedp.ByQuery),
		chromedp.SendKeys(`#confirm_password`, newPassword, chromedp.ByQuery),
		chromedp.Submit(`#confirm_password`, chromedp.ByQuery),
		chromedp.WaitVisible(`.alert-ok`, chromedp.ByQuery),
		chromedp.Text(`.alert-ok`, &notice, chromedp.ByQuery),
	)
	if !strings.Contains(notice, "Password changed") {
		t.Fatalf("notice after the change: %q", notice)
	}
	screenshot(t, ctx, "account-password-changed")

	// Sign out, then the old password is refused.
	var refusal string
	browse(t, ctx,
		chromedp.Click(`form[action="/logout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, m.AdminPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`.alert-bad`, chromedp.ByQuery),
		chromedp.Text(`.alert-bad`, &refusal, chromedp.ByQuery),
	)
	if !strings.Contains(refusal, "Wrong user name or password") {
		t.Fatalf("old password: %q", refusal)
	}

	// The new password signs in.
	browse(t, ctx,
		chromedp.Navigate(m.HTTPURL()+"/login"),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, newPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#fleet`, chromedp.ByQuery),
	)
}
