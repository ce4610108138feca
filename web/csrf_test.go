package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestCSRFMissingOrWrongIsRefusedAndChangesNothing signs in as an admin (who
// may do everything) and proves that without the session's own CSRF token no
// state-changing route acts.
func TestCSRFMissingOrWrongIsRefusedAndChangesNothing(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("root", server.RoleAdmin)
	_, otherCSRF := app.signedIn("other", server.RoleAdmin) // a real token, of another session
	_, tok, err := app.svc.CreateEnrollmentToken(t.Context(), server.CLIActor(), "keep-me", 0)
	if err != nil {
		t.Fatal(err)
	}
	revoke := "/enroll/tokens/" + strconv.FormatInt(tok.ID, 10) + "/revoke"
	host := app.readyHost("keep-host")
	job := host.backup()
	grouped, group, sched := app.groupHost("keep-group", false)
	gpath := "/hosts/" + grouped.hostID + "/source-groups/" + itoa(group.ID)
	spath := "/hosts/" + grouped.hostID + "/schedules/" + itoa(sched.ID)
	before := app.auditCount()

	posts := []struct {
		path string
		form url.Values
	}{
		{"/enroll", url.Values{"host_name": {"web-01"}, "ttl": {"1h"}}},
		{revoke, url.Values{}},
		{"/admin/users", url.Values{"name": {"mallory"}, "role": {"admin"}, "password": {"a long enough password"}}},
		{"/admin/api-tokens", url.Values{"user": {"root"}, "label": {"x"}}},
		{"/logout", url.Values{}},
		{"/hosts/" + host.hostID + "/jobs", url.Values{"kind": {"backup"}, "paths": {"/etc"}}},
		{"/hosts/" + host.hostID + "/repository", url.Values{"url": {"/srv/other"}, "password": {"x"}}},
		{"/hosts/" + host.hostID + "/repository/reinit", url.Values{"confirm_name": {"keep-host"}}},
		{jobPath(job.ID) + "/cancel", url.Values{}},
		{"/hosts/" + grouped.hostID + "/source-groups", url.Values{"name": {"new"}, "paths": {"/srv"}, "preset": {"none"}}},
		{gpath, url.Values{"name": {"docs"}, "paths": {"/srv"}, "preset": {"none"}}},
		{gpath + "/delete", url.Values{"confirm_name": {"docs"}}},
		{gpath + "/retention-preview", url.Values{"keep_last": {"1"}}},
		{"/hosts/" + grouped.hostID + "/schedules", url.Values{"kind": {"prune"}, "preset": {"daily"}, "time": {"01:00"}}},
		{spath, url.Values{"kind": {"backup"}, "source_group": {itoa(group.ID)}, "preset": {"hourly"}}},
		{spath + "/delete", url.Values{}},
		{spath + "/pause", url.Values{}},
		{"/hosts/" + grouped.hostID + "/bandwidth", url.Values{"up_kbps": {"5"}}},
	}
	for _, p := range posts {
		for name, token := range map[string]string{"missing": "", "wrong": "not-the-token", "other session's": otherCSRF} {
			form := url.Values{}
			for k, v := range p.form {
				form[k] = v
			}
			if token != "" {
				form.Set("csrf_token", token)
			}
			res := b.postForm(p.path, form)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s CSRF token: status %d, want 403", p.path, name, res.StatusCode)
			}
			if !strings.Contains(res.body, "reload the page and try again") {
				t.Errorf("POST %s: 403 page does not say what to do", p.path)
			}
		}
	}

	if n := app.auditCount(); n != before {
		t.Errorf("audit rows %d -> %d: a refused request changed something", before, n)
	}
	tokens, _ := app.svc.ListEnrollmentTokens(t.Context())
	if len(tokens) != 1 || tokens[0].HostName != "keep-me" {
		t.Errorf("enrollment tokens changed: %+v", tokens)
	}
	if _, err := app.svc.UserByName(t.Context(), "mallory"); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Errorf("user mallory exists after a refused request (err %v)", err)
	}
	if res := b.get("/"); res.StatusCode != http.StatusOK {
		t.Errorf("logout without CSRF token signed the browser out (GET / = %d)", res.StatusCode)
	}
}

// TestCSRFHeaderIsAcceptedForHTMX proves the X-CSRF-Token header (which HTMX
// sends from hx-headers on <body>) works in place of the form field.
func TestCSRFHeaderIsAcceptedForHTMX(t *testing.T) {
	app := newTestApp(t)
	b, csrf := app.signedIn("root", server.RoleAdmin)
	form := url.Values{"host_name": {"web-01"}, "ttl": {"1h"}}
	res := b.do(http.MethodPost, "/enroll", strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "X-Csrf-Token": {csrf}, "Hx-Request": {"true"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	if e := app.lastAudit(); e.Action != "enrollment_token.create" || e.Actor != "root" || e.Via != "web" {
		t.Errorf("last audit row = %+v", e)
	}
}

// TestAPIBearerNeedsNoCSRF: bearer requests carry no cookies, so there is
// nothing for another site to ride on and no CSRF token is asked for.
func TestAPIBearerNeedsNoCSRF(t *testing.T) {
	app := newTestApp(t)
	servertest.MustCreateUser(t, app.svc, "ci", server.RoleAdmin)
	api := app.apiClient("ci")
	res := api.postJSON("/api/v1/enrollment-tokens", `{"host_name":"web-01"}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", res.StatusCode, res.body)
	}
}
