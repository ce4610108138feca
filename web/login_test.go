package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

func TestLoginSuccessSetsSafeSessionCookie(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "alice", server.RoleViewer)
	b := app.browser()

	page := b.get("/login?next=" + url.QueryEscape("/hosts/h_x?tab=1"))
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, "Sign in to restic-manager") {
		t.Fatalf("GET /login = %d", page.StatusCode)
	}
	res := b.postForm("/login", url.Values{"csrf_token": {csrfFrom(t, page.body)}, "name": {"alice"},
		"password": {servertest.Password}, "next": {"/hosts/h_x?tab=1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/hosts/h_x?tab=1" {
		t.Fatalf("POST /login = %d to %q, want 303 to the page asked for", res.StatusCode, res.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "rm_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", session)
	}
	home := b.get("/")
	if home.StatusCode != http.StatusOK || !strings.Contains(home.body, "alice") {
		t.Fatalf("GET / after login = %d", home.StatusCode)
	}
}

func TestLoginCookieIsSecureUnderTLS(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.Secure = true })
	servertest.MustCreateUser(t, app.svc, "alice", server.RoleViewer)
	b := app.browser()
	page := b.get("/login")
	// The jar will not send Secure cookies over the plain test listener, so
	// post the double-submit cookie by hand.
	signin := page.Cookies()[0]
	if signin.Name != "__Host-rm_signin" || !signin.Secure {
		t.Fatalf("sign-in cookie = %+v, want __Host- and Secure", signin)
	}
	form := url.Values{"csrf_token": {signin.Value}, "name": {"alice"}, "password": {servertest.Password}}
	res := b.do(http.MethodPost, "/login", strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {signin.Name + "=" + signin.Value}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d", res.StatusCode)
	}
	set := res.Header.Values("Set-Cookie")
	if len(set) == 0 || !strings.HasPrefix(set[0], "__Host-rm_session=") || !strings.Contains(set[0], "Secure") || !strings.Contains(set[0], "HttpOnly") {
		t.Fatalf("Set-Cookie = %q, want a Secure HttpOnly __Host- session cookie", set)
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS header under TLS")
	}
}

func TestLoginFailureSaysWhatToDoAndSetsNoSession(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "alice", server.RoleViewer)
	b := app.browser()
	page := b.get("/login")
	res := b.postForm("/login", url.Values{"csrf_token": {csrfFrom(t, page.body)}, "name": {"alice"}, "password": {"wrong password!"}})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	if !strings.Contains(res.body, "Wrong user name or password; check both and try again.") || !strings.Contains(res.body, `value="alice"`) {
		t.Errorf("page does not explain the failure or lost the name:\n%s", res.body)
	}
	for _, c := range res.Cookies() {
		if c.Name == "rm_session" {
			t.Fatal("a failed login set a session cookie")
		}
	}
	if got := b.get("/"); got.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET / after failed login = %d, want a redirect to /login", got.StatusCode)
	}
}

func TestLoginIsThrottled(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "alice", server.RoleViewer)
	b := app.browser()
	token := csrfFrom(t, b.get("/login").body)
	try := func(password string) response {
		return b.postForm("/login", url.Values{"csrf_token": {token}, "name": {"alice"}, "password": {password}})
	}
	for i := range 5 {
		if res := try("wrong password!"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, res.StatusCode)
		}
	}
	// Now even the right password is refused until the window passes.
	res := try(servertest.Password)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(res.body, "Too many failed sign-ins") {
		t.Errorf("429 page does not say what happened:\n%s", res.body)
	}
}

func TestLoginNeedsItsCSRFToken(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "alice", server.RoleViewer)
	b := app.browser()
	b.get("/login") // sets the sign-in cookie
	for _, token := range []string{"", "forged-token-forged-token-forged-token"} {
		res := b.postForm("/login", url.Values{"csrf_token": {token}, "name": {"alice"}, "password": {servertest.Password}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("csrf %q: status %d, want 403", token, res.StatusCode)
		}
	}
	// A browser that never loaded the form (a cross-site post) has no cookie.
	other := app.browser()
	res := other.postForm("/login", url.Values{"csrf_token": {"x"}, "name": {"alice"}, "password": {servertest.Password}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("post without the form's cookie: status %d, want 403", res.StatusCode)
	}
}

func TestUnauthenticatedRequestsAreSentToLoginOr401(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	res := b.get("/enroll?x=1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next="+url.QueryEscape("/enroll?x=1") {
		t.Errorf("GET /enroll = %d to %q, want 303 to /login?next=...", res.StatusCode, res.Header.Get("Location"))
	}
	htmx := b.do(http.MethodGet, "/", nil, http.Header{"Hx-Request": {"true"}})
	if htmx.StatusCode != http.StatusUnauthorized || htmx.Header.Get("HX-Redirect") != "/login" {
		t.Errorf("HTMX GET / = %d (HX-Redirect %q), want 401 with HX-Redirect", htmx.StatusCode, htmx.Header.Get("HX-Redirect"))
	}
	if res := b.postForm("/enroll", url.Values{"host_name": {"x"}}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /enroll without a session = %d, want 401", res.StatusCode)
	}
	if res := b.get("/events"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /events without a session = %d, want 401", res.StatusCode)
	}
	api := b.get("/api/v1/hosts")
	if api.StatusCode != http.StatusUnauthorized || apiErrorOf(t, api).Error != server.CodeUnauthorized {
		t.Errorf("GET /api/v1/hosts without a token = %d %s", api.StatusCode, api.body)
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	app := newTestApp(t)
	b, csrf := app.signedIn("alice", server.RoleViewer)
	u, _ := url.Parse(app.srv.URL)
	stolen := b.http.Jar.Cookies(u) // what an attacker who copied the cookie would hold

	res := b.postForm("/logout", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout = %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	replay := app.browser()
	replay.http.Jar.SetCookies(u, stolen)
	if res := replay.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("old session cookie still works after logout: %d", res.StatusCode)
	}
}

func TestSafeNextKeepsRedirectsOnThisSite(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "/",
		"/hosts/h_1":         "/hosts/h_1",
		"/admin/audit?x=1":   "/admin/audit?x=1",
		"//evil.example":     "/",
		"/\\evil.example":    "/",
		"https://evil.test":  "/",
		"javascript:alert()": "/",
		"/login":             "/",
		"/ok\r\nSet-Cookie:": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCookiesAreSecureOverTLSEvenWithoutSecureConfig(t *testing.T) {
	app := newTestApp(t) // Secure: false, as when serving HTTP and HTTPS side by side
	rec := httptest.NewRecorder()
	app.web.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://rm.example.test/login", nil))
	set := rec.Header().Get("Set-Cookie")
	if !strings.HasPrefix(set, "rm_signin=") || !strings.Contains(set, "Secure") {
		t.Errorf("Set-Cookie over TLS = %q, want Secure", set)
	}
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent while the server also serves plain HTTP")
	}
}
