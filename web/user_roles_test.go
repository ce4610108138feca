package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// passwordHashOnce is servertest.Password's hash, made once: argon2id is
// slow on purpose, and the role matrix makes many users.
var passwordHashOnce struct {
	sync.Once
	hash string
}

// quickUser adds a user with servertest.Password straight into the store
// (no audit row, no new hash) and returns its ID.
func (a *testApp) quickUser(name string, role server.Role) int64 {
	a.t.Helper()
	passwordHashOnce.Do(func() {
		svc := servertest.MustOpenService(a.t, server.Options{})
		servertest.MustCreateUser(a.t, svc, "x", server.RoleViewer)
		if err := svc.DB().Get(&passwordHashOnce.hash, `SELECT password_hash FROM users`); err != nil {
			a.t.Fatal(err)
		}
	})
	res, err := a.svc.DB().Exec(`INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)`,
		name, role, passwordHashOnce.hash, time.Now().UTC())
	if err != nil {
		a.t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

var totpSecretRE = regexp.MustCompile(`<code id="totp-secret"[^>]*>([A-Z2-7]+)</code>`)

// userSetupRows are the audit rows the setup of a user case writes itself.
var userSetupRows = map[string]int{
	"/admin/api-tokens/:id/revoke": 1, "/api/v1/api-tokens/:id": 1,
}

// userRoleCases are the role matrix's users, API tokens and account routes.
func userRoleCases() []roleCase {
	form := func(path string, f url.Values) func(*testApp, *client, string, int) response {
		return func(_ *testApp, c *client, csrf string, _ int) response {
			f.Set("csrf_token", csrf)
			return c.postForm(path, f)
		}
	}
	userForm := func(action string, f url.Values) func(*testApp, *client, string, int) response {
		return func(app *testApp, c *client, csrf string, n int) response {
			id := app.quickUser(fmt.Sprintf("u-%s-%d", strings.ReplaceAll(action, "/", ""), n), server.RoleOperator)
			g := url.Values{"confirm_name": {fmt.Sprintf("u-%s-%d", strings.ReplaceAll(action, "/", ""), n)}}
			for k, v := range f {
				g[k] = v
			}
			return form(fmt.Sprintf("/admin/users/%d/%s", id, action), g)(app, c, csrf, n)
		}
	}
	apiUser := func(method, suffix, body string) func(*testApp, *client, string, int) response {
		return func(app *testApp, c *client, _ string, n int) response {
			id := app.quickUser(fmt.Sprintf("api-u-%d", n), server.RoleOperator)
			var rd *strings.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			path := "/api/v1/users/" + strconv.FormatInt(id, 10) + suffix
			if rd == nil {
				return c.do(method, path, nil, nil)
			}
			return c.do(method, path, rd, http.Header{"Content-Type": {"application/json"}})
		}
	}
	token := func(app *testApp) int64 {
		_, t, err := app.svc.IssueAPIToken(app.t.Context(), server.CLIActor(), "admin", "to revoke")
		if err != nil {
			app.t.Fatal(err)
		}
		return t.ID
	}
	const admin, read = server.PermAdmin, server.PermRead
	pw := url.Values{"password": {"another long password"}, "confirm_password": {"another long password"}}
	return []roleCase{
		{http.MethodGet, "/admin/users/:id", admin, false, 200, func(app *testApp, c *client, _ string, n int) response {
			return c.get(fmt.Sprintf("/admin/users/%d", app.quickUser(fmt.Sprintf("seen-%d", n), server.RoleViewer)))
		}},
		{http.MethodPost, "/admin/users/:id/role", admin, true, 303, userForm("role", url.Values{"role": {"viewer"}})},
		{http.MethodPost, "/admin/users/:id/disable", admin, true, 303, userForm("disable", nil)},
		{http.MethodPost, "/admin/users/:id/enable", admin, true, 303, userForm("enable", nil)},
		{http.MethodPost, "/admin/users/:id/password", admin, true, 303, userForm("password", pw)},
		{http.MethodPost, "/admin/users/:id/totp-reset", admin, true, 303, userForm("totp-reset", nil)},
		{http.MethodPost, "/admin/users/:id/delete", admin, true, 303, userForm("delete", nil)},
		{http.MethodPost, "/admin/api-tokens/:id/revoke", admin, true, 303, func(app *testApp, c *client, csrf string, n int) response {
			return form(fmt.Sprintf("/admin/api-tokens/%d/revoke", token(app)), url.Values{})(app, c, csrf, n)
		}},
		// Off, so that later cases are not sent to enrol first.
		{http.MethodPost, "/admin/settings/require-totp", admin, true, 303, form("/admin/settings/require-totp", url.Values{"require": {"0"}})},
		{http.MethodGet, "/account", read, false, 200, func(_ *testApp, c *client, _ string, _ int) response { return c.get("/account") }},
		// The same password again: the matrix's sessions keep working.
		{http.MethodPost, "/account/password", read, true, 303, form("/account/password", url.Values{
			"current_password": {servertest.Password}, "password": {servertest.Password}, "confirm_password": {servertest.Password}})},
		{http.MethodPost, "/account/totp", read, false, 200, form("/account/totp", url.Values{})},
		{http.MethodPost, "/account/totp/confirm", read, true, 200, func(app *testApp, c *client, csrf string, n int) response {
			page := c.get("/account")
			m := totpSecretRE.FindStringSubmatch(page.body)
			if m == nil {
				app.t.Fatalf("no enrolment in progress on the account page:\n%s", page.body)
			}
			code, err := totp.GenerateCode(m[1], time.Now())
			if err != nil {
				app.t.Fatal(err)
			}
			return form("/account/totp/confirm", url.Values{"code": {code}})(app, c, csrf, n)
		}},
		{http.MethodPost, "/account/totp/disable", read, true, 303, form("/account/totp/disable", url.Values{"current_password": {servertest.Password}})},

		{http.MethodGet, "/api/v1/users", admin, false, 200, func(_ *testApp, c *client, _ string, _ int) response { return c.get("/api/v1/users") }},
		{http.MethodPost, "/api/v1/users", admin, true, 201, func(_ *testApp, c *client, _ string, n int) response {
			return c.postJSON("/api/v1/users", fmt.Sprintf(`{"name":"api-new-%d","role":"viewer","password":"a long enough password"}`, n))
		}},
		{http.MethodGet, "/api/v1/users/:id", admin, false, 200, apiUser(http.MethodGet, "", "")},
		{http.MethodPut, "/api/v1/users/:id", admin, true, 200, apiUser(http.MethodPut, "", `{"role":"viewer"}`)},
		{http.MethodDelete, "/api/v1/users/:id", admin, true, 204, apiUser(http.MethodDelete, "", "")},
		{http.MethodPost, "/api/v1/users/:id/password", admin, true, 204, apiUser(http.MethodPost, "/password", `{"password":"another long password"}`)},
		{http.MethodDelete, "/api/v1/users/:id/totp", admin, true, 200, apiUser(http.MethodDelete, "/totp", "")},
		{http.MethodGet, "/api/v1/api-tokens", admin, false, 200, func(_ *testApp, c *client, _ string, _ int) response { return c.get("/api/v1/api-tokens") }},
		{http.MethodPost, "/api/v1/api-tokens", admin, true, 201, func(_ *testApp, c *client, _ string, n int) response {
			return c.postJSON("/api/v1/api-tokens", fmt.Sprintf(`{"user":"viewer","label":"ci-%d"}`, n))
		}},
		{http.MethodDelete, "/api/v1/api-tokens/:id", admin, true, 204, func(app *testApp, c *client, _ string, _ int) response {
			return c.do(http.MethodDelete, fmt.Sprintf("/api/v1/api-tokens/%d", token(app)), nil, nil)
		}},
	}
}
