package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestAccountPasswordChange: the current password is required, the two new
// ones must match; after the change this browser stays signed in, the
// user's other browser is signed out, and only the new password works.
func TestAccountPasswordChange(t *testing.T) {
	app := newTestApp(t)
	app.quickUser("vera", server.RoleViewer)
	b := app.browser()
	csrf := b.login("vera", servertest.Password)
	other := app.browser()
	other.login("vera", servertest.Password)
	if res := b.get("/account"); res.StatusCode != 200 || !strings.Contains(res.body, `action="/account/password"`) {
		t.Fatalf("account page: %d\n%s", res.StatusCode, res.body)
	}
	const newPw = "a brand new long password"
	change := func(current, pw, confirm string) response {
		return b.postForm("/account/password", url.Values{"csrf_token": {csrf}, "current_password": {current}, "password": {pw}, "confirm_password": {confirm}})
	}
	if res := change("wrong one", newPw, newPw); res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, "current password is wrong") {
		t.Fatalf("wrong current password: %d\n%s", res.StatusCode, res.body)
	}
	if res := change(servertest.Password, newPw, newPw+"x"); res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "differ") {
		t.Fatalf("mismatched new passwords: %d", res.StatusCode)
	}
	if res := change(servertest.Password, newPw, newPw); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account?done=password" {
		t.Fatalf("change: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	if res := b.get("/account?done=password"); res.StatusCode != 200 || !strings.Contains(res.body, "Password changed") {
		t.Fatalf("this browser after the change: %d", res.StatusCode)
	}
	if res := other.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other browser is still signed in: %d", res.StatusCode)
	}
	if _, err := app.svc.Login(t.Context(), "vera", servertest.Password, "10.9.0.1"); err == nil {
		t.Fatal("the old password still works")
	}
	app.browser().login("vera", newPw)
	if e := app.lastAudit(); e.Action != "user.password_change" || e.Actor != "vera" || strings.Contains(e.Details, newPw) {
		t.Errorf("audit %+v", e)
	}
}

// TestAPIOwnPasswordNeedsASession: POST /api/v1/me/password works for a
// browser session with its CSRF header, and never for an API token.
func TestAPIOwnPasswordNeedsASession(t *testing.T) {
	app := newTestApp(t)
	app.quickUser("otto", server.RoleOperator)
	b := app.browser()
	csrf := b.login("otto", servertest.Password)
	body := `{"current_password":"` + servertest.Password + `","password":"a brand new long password"}`
	send := func(c *client, header http.Header) response {
		header.Set("Content-Type", "application/json")
		return c.do(http.MethodPost, "/api/v1/me/password", strings.NewReader(body), header)
	}
	if res := send(app.apiClient("otto"), http.Header{}); res.StatusCode != http.StatusUnauthorized || apiErrorOf(t, res).Error != server.CodeUnauthorized {
		t.Fatalf("with an API token: %d %s", res.StatusCode, res.body)
	}
	if res := send(b, http.Header{}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("without the CSRF header: %d", res.StatusCode)
	}
	if res := send(b, http.Header{"X-Csrf-Token": {csrf}}); res.StatusCode != http.StatusNoContent {
		t.Fatalf("with a session: %d %s", res.StatusCode, res.body)
	}
	if _, err := app.svc.Login(t.Context(), "otto", "a brand new long password", "10.9.0.2"); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

var recoveryRE = regexp.MustCompile(`<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</li>`)

// enrolInBrowser turns TOTP on through the Account page and returns the
// secret and the recovery codes the page showed.
func enrolInBrowser(t *testing.T, b *client, csrf string) (string, []string) {
	t.Helper()
	res := b.postForm("/account/totp", url.Values{"csrf_token": {csrf}})
	m := totpSecretRE.FindStringSubmatch(res.body)
	if res.StatusCode != 200 || m == nil || !strings.Contains(res.body, `src="data:image/png;base64,`) {
		t.Fatalf("enrol: %d, no secret or QR code\n%s", res.StatusCode, res.body)
	}
	secret := m[1]
	if res := b.postForm("/account/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {"000000"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong confirmation code: %d", res.StatusCode)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	res = b.postForm("/account/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {code}})
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(res.body, -1) {
		codes = append(codes, m[1])
	}
	if res.StatusCode != 200 || len(codes) != 10 {
		t.Fatalf("confirm: %d, %d recovery codes\n%s", res.StatusCode, len(codes), res.body)
	}
	return secret, codes
}

// TestTOTPSignInThroughTheForms: with TOTP on, the password leads to the
// code step and no session; a wrong code is refused; the right code (from
// the secret) signs in; a recovery code works once.
func TestTOTPSignInThroughTheForms(t *testing.T) {
	app := newTestApp(t)
	app.quickUser("tina", server.RoleOperator)
	b := app.browser()
	secret, codes := enrolInBrowser(t, b, b.login("tina", servertest.Password))

	// password step: to the code step, no session yet.
	password := func(c *client) {
		t.Helper()
		page := c.get("/login")
		res := c.postForm("/login", url.Values{"csrf_token": {csrfFrom(t, page.body)}, "name": {"tina"}, "password": {servertest.Password}, "next": {"/jobs"}})
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login/totp") {
			t.Fatalf("password step: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if res := c.get("/"); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("signed in after the password alone: %d", res.StatusCode)
		}
	}
	submit := func(c *client, code string) response {
		t.Helper()
		page := c.get("/login/totp?next=%2Fjobs")
		if page.StatusCode != 200 || !strings.Contains(page.body, "tina") {
			t.Fatalf("code page: %d\n%s", page.StatusCode, page.body)
		}
		return c.postForm("/login/totp", url.Values{"csrf_token": {csrfFrom(t, page.body)}, "code": {code}, "next": {"/jobs"}})
	}
	c := app.browser()
	password(c)
	if res := submit(c, "000000"); res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.body, "That code is wrong") {
		t.Fatalf("wrong code: %d\n%s", res.StatusCode, res.body)
	}
	// The code of the next step: the enrolment used the current one.
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if res := submit(c, code); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/jobs" {
		t.Fatalf("right code: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	if res := c.get("/jobs"); res.StatusCode != 200 {
		t.Fatalf("after the code: %d", res.StatusCode)
	}

	r := app.browser()
	password(r)
	if res := submit(r, codes[0]); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("recovery code: %d\n%s", res.StatusCode, res.body)
	}
	r = app.browser()
	password(r)
	if res := submit(r, codes[0]); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a recovery code worked twice: %d", res.StatusCode)
	}
	// Without a challenge the code page goes back to the password.
	if res := app.browser().get("/login/totp"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("code page without a challenge: %d", res.StatusCode)
	}
}

// TestRequireTOTPSendsAdminsToEnrol: with the setting on, an admin without
// TOTP reaches nothing but the Account page until they enrol; other roles
// and API tokens are unaffected.
func TestRequireTOTPSendsAdminsToEnrol(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("boss", server.RoleAdmin)
	viewer, _ := app.signedIn("viewer", server.RoleViewer)
	if res := admin.postForm("/admin/settings/require-totp", url.Values{"csrf_token": {csrf}, "require": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("setting: %d", res.StatusCode)
	}
	if res := admin.get("/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" {
		t.Fatalf("admin without TOTP: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res := admin.postForm("/admin/users", url.Values{"csrf_token": {csrf}, "name": {"x"}, "role": {"viewer"}, "password": {"a long enough password"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("admin without TOTP adding a user: %d", res.StatusCode)
	}
	if res := admin.get("/account"); res.StatusCode != 200 || !strings.Contains(res.body, "Admins must use two-factor sign-in") {
		t.Fatalf("account page: %d", res.StatusCode)
	}
	if res := viewer.get("/"); res.StatusCode != 200 {
		t.Fatalf("viewer: %d", res.StatusCode)
	}
	if res := app.apiClient("boss").get("/api/v1/users"); res.StatusCode != 200 {
		t.Fatalf("the admin's API token: %d", res.StatusCode)
	}
	enrolInBrowser(t, admin, csrf)
	if res := admin.get("/"); res.StatusCode != 200 {
		t.Fatalf("admin after enrolling: %d", res.StatusCode)
	}
	if e, _ := app.svc.ListAudit(t.Context(), server.AuditFilter{Action: "settings.require_totp"}); len(e) != 1 || e[0].Actor != "boss" {
		t.Errorf("audit %+v", e)
	}
}
