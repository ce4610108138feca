package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/restic-manager/restic-manager/server"
)

// mustContain fails unless body has every part (as text: entities decoded).
func mustContain(t *testing.T, what, body string, parts ...string) {
	t.Helper()
	body = html.UnescapeString(body)
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("%s lacks %q", what, p)
		}
	}
}

func TestEmptyDashboardTeachesEnrollment(t *testing.T) {
	app := newTestApp(t)
	admin, _ := app.signedIn("root", server.RoleAdmin)
	res := admin.get("/")
	mustContain(t, "empty dashboard", res.body, "No hosts yet", `href="/enroll"`,
		"restic-manager-agent enroll --server https://rm.example.test:8443 --token TOKEN --ca-fingerprint "+testFingerprint)

	viewer, _ := app.signedIn("val", server.RoleViewer)
	res = viewer.get("/")
	mustContain(t, "viewer's empty dashboard", res.body, "Ask an admin to enroll hosts")
	if strings.Contains(res.body, `href="/enroll"`) {
		t.Error("a viewer is offered the enroll page")
	}
}

func TestDashboardShowsHostsWithStateWordsAndListens(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	on := app.enrollHost("web-01")
	app.svc.Presence().Connected(on.HostID, 1, "192.0.2.1:1")
	off := app.enrollHost("db-01")
	app.svc.Presence().Connected(off.HostID, 1, "192.0.2.2:1")
	app.svc.Presence().Disconnected(off.HostID, 1)
	fresh := app.enrollHost("new-01")

	res := b.get("/")
	mustContain(t, "dashboard", res.body,
		`sse-connect="/events?seen=`, `id="host-`+on.HostID+`"`, `href="/hosts/`+on.HostID+`"`,
		">online<", ">offline<", ">never connected<", "since <time datetime=", `title="20`, "linux/amd64", "0.18.0")
	// By name, whatever the state (#15: pages are cut in that order).
	row := func(id string) int { return strings.Index(res.body, `<tr id="host-`+id+`"`) }
	if i, j, k := row(off.HostID), row(fresh.HostID), row(on.HostID); i < 0 || i > j || j > k {
		t.Error("the hosts are not listed by name")
	}
	// The state filter reads the presence the server flushes every second.
	if err := app.svc.Presence().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	filtered := b.get("/?state=online&q=web")
	mustContain(t, "filtered dashboard", filtered.body, "web-01")
	if strings.Contains(filtered.body, `id="host-`+off.HostID+`"`) {
		t.Error("the online filter shows an offline host")
	}
}

func TestHostPage(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn("val", server.RoleViewer)
	h := app.enrollHost("web-01")
	res := b.get("/hosts/" + h.HostID)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	mustContain(t, "host page", res.body, `sse-connect="/events?host=`+h.HostID+`"`, "web-01.lan", "linux/amd64", "never connected", h.HostID)
	res = b.get("/hosts/h_missing")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(res.body, "There is no host with ID") {
		t.Errorf("unknown host: %d", res.StatusCode)
	}
}

var tokenRE = regexp.MustCompile(`rme_[A-Za-z0-9_-]+`)

func TestEnrollPageCreatesShowsAndRevokesTokens(t *testing.T) {
	app := newTestApp(t)
	b, csrf := app.signedIn("root", server.RoleAdmin)

	res := b.postForm("/enroll", url.Values{"csrf_token": {csrf}, "host_name": {""}, "ttl": {"1h"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Enter a name for the host") {
		t.Errorf("empty name: %d", res.StatusCode)
	}
	res = b.postForm("/enroll", url.Values{"csrf_token": {csrf}, "host_name": {"bad name"}, "ttl": {"1h"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "Host names are 1-63 letters") || !strings.Contains(res.body, `value="bad name"`) {
		t.Errorf("bad name: %d", res.StatusCode)
	}
	res = b.postForm("/enroll", url.Values{"csrf_token": {csrf}, "host_name": {"web-01"}, "ttl": {"99y"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("unoffered ttl: %d", res.StatusCode)
	}

	res = b.postForm("/enroll", url.Values{"csrf_token": {csrf}, "host_name": {"web-01"}, "ttl": {"24h"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create: %d", res.StatusCode)
	}
	token := tokenRE.FindString(res.body)
	if token == "" {
		t.Fatal("the page does not show the token")
	}
	mustContain(t, "created token page", res.body, "Commands for web-01", "shown only now",
		"sudo restic-manager-agent enroll --server https://rm.example.test:8443 --token "+token+" --ca-fingerprint "+testFingerprint,
		"enroll --server https://rm.example.test:8443 --token "+token+" --ca-fingerprint "+testFingerprint+` --config "$env:ProgramData`,
		`action="/enroll/tokens/`, "data-copy")

	// Reloading the page never shows the token again.
	if again := b.get("/enroll"); strings.Contains(again.body, token) || !strings.Contains(again.body, "web-01") {
		t.Error("the token is shown again, or the unused token is not listed")
	}

	tokens, _ := app.svc.ListEnrollmentTokens(t.Context())
	if len(tokens) != 1 {
		t.Fatalf("%d tokens", len(tokens))
	}
	res = b.postForm("/enroll/tokens/"+strconv.FormatInt(tokens[0].ID, 10)+"/revoke", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	after := b.get(res.Header.Get("Location"))
	mustContain(t, "after revoke", after.body, "Token revoked", "No unused tokens")
	if e := app.lastAudit(); e.Action != "enrollment_token.revoke" || e.Actor != "root" {
		t.Errorf("audit = %+v", e)
	}
	res = b.postForm("/enroll/tokens/"+strconv.FormatInt(tokens[0].ID, 10)+"/revoke", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("revoking twice: %d", res.StatusCode)
	}
}

func TestEnrollPageShowsInstallScriptsWhenConfigured(t *testing.T) {
	app := newTestApp(t, func(c *Config) {
		c.InstallScripts = fstest.MapFS{
			"install.sh":  {Data: []byte("#!/bin/sh\necho hi\n")},
			"install.ps1": {Data: []byte("Write-Host hi\n")},
		}
	})
	b, csrf := app.signedIn("root", server.RoleAdmin)
	res := b.postForm("/enroll", url.Values{"csrf_token": {csrf}, "host_name": {"web-01"}, "ttl": {"1h"}})
	token := tokenRE.FindString(res.body)
	mustContain(t, "enroll page", res.body,
		`curl -fsSk https://rm.example.test:8443/install.sh -o "$f"`,
		hexSum([]byte("#!/bin/sh\necho hi\n"))+` ]; then sudo sh "$f" --server https://rm.example.test:8443 --token `+token+" --ca-fingerprint "+testFingerprint,
		"DownloadData('https://rm.example.test:8443/install.ps1')", "$env:RM_TOKEN='"+token+"'",
		"the script then trusts only the certificate authority with fingerprint")
	if s := app.browser().get("/install.sh"); s.StatusCode != http.StatusOK || s.body != "#!/bin/sh\necho hi\n" {
		t.Errorf("install.sh: %d %q", s.StatusCode, s.body)
	}
}

func TestUsersPage(t *testing.T) {
	app := newTestApp(t)
	b, csrf := app.signedIn("root", server.RoleAdmin)
	res := b.postForm("/admin/users", url.Values{"csrf_token": {csrf}, "name": {"bob"}, "role": {"operator"}, "password": {"short"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.body, "at least 12 characters") || strings.Contains(res.body, `value="short"`) {
		t.Errorf("short password: %d", res.StatusCode)
	}
	res = b.postForm("/admin/users", url.Values{"csrf_token": {csrf}, "name": {"bob"}, "role": {"operator"}, "password": {"a long enough password"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	page := b.get(res.Header.Get("Location"))
	mustContain(t, "users page", page.body, "User bob added", "bob", "operator")
	if e := app.lastAudit(); e.Action != "user.create" || e.Target != "bob" || strings.Contains(e.Details, "long enough") {
		t.Errorf("audit = %+v", e)
	}
	res = b.postForm("/admin/users", url.Values{"csrf_token": {csrf}, "name": {"bob"}, "role": {"viewer"}, "password": {"a long enough password"}})
	if res.StatusCode != http.StatusConflict {
		t.Errorf("duplicate user: %d", res.StatusCode)
	}

	res = b.postForm("/admin/api-tokens", url.Values{"csrf_token": {csrf}, "user": {"bob"}, "label": {"grafana"}})
	token := regexp.MustCompile(`rmt_[A-Za-z0-9_-]+`).FindString(res.body)
	if res.StatusCode != http.StatusOK || token == "" {
		t.Fatalf("api token: %d", res.StatusCode)
	}
	api := app.browser()
	api.http.Jar, api.bearer = nil, token
	if r := api.get("/api/v1/hosts"); r.StatusCode != http.StatusOK {
		t.Errorf("the new token does not work: %d", r.StatusCode)
	}
}

func TestAuditPageFilters(t *testing.T) {
	app := newTestApp(t)
	b, csrf := app.signedIn("root", server.RoleAdmin)
	b.postForm("/enroll", url.Values{"csrf_token": {csrf}, "host_name": {"web-01"}, "ttl": {"1h"}})
	res := b.get("/admin/audit?actor=root")
	mustContain(t, "audit page", res.body, "enrollment_token.create", "web-01", "127.0.0.1", "web")
	if strings.Contains(res.body, "user.create") {
		t.Error("the actor filter shows rows of other actors")
	}
	res = b.get("/admin/audit?action=user.")
	mustContain(t, "audit page by action", res.body, "user.create")
	if strings.Contains(res.body, "enrollment_token.create") {
		t.Error("the action filter shows other actions")
	}
}

func TestSecurityHeadersAndErrorPages(t *testing.T) {
	app := newTestApp(t)
	res := app.browser().get("/login")
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
	} {
		if !strings.Contains(res.Header.Get(h), want) {
			t.Errorf("%s = %q, want %q", h, res.Header.Get(h), want)
		}
	}
	if strings.Contains(res.body, "<script>") || strings.Contains(res.body, " style=") || strings.Contains(res.body, " onclick=") {
		t.Error("the page has inline script or style that the CSP would block")
	}
	nf := app.browser().get("/no/such/page")
	if nf.StatusCode != http.StatusNotFound || !strings.Contains(nf.Header.Get("Content-Type"), "text/html") || !strings.Contains(nf.body, "There is nothing at this address") {
		t.Errorf("404 page: %d %s", nf.StatusCode, nf.Header.Get("Content-Type"))
	}
}

func TestStaticAssetsAreVersionedAndCached(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	page := b.get("/login")
	m := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("the page does not link a versioned stylesheet")
	}
	res := b.do(http.MethodGet, m[1], nil, http.Header{"Accept-Encoding": {"gzip"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") ||
		res.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: %d %v", res.StatusCode, res.Header)
	}
	again := b.do(http.MethodGet, "/static/app.css", nil, http.Header{"If-None-Match": {res.Header.Get("ETag")}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d", again.StatusCode)
	}
	for _, name := range []string{"vendor/htmx.min.js", "vendor/htmx-ext-sse.min.js", "app.js", "favicon.svg"} {
		if r := b.get("/static/" + name); r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", name, r.StatusCode)
		}
	}
	if r := b.get("/static/../server.go"); r.StatusCode != http.StatusNotFound {
		t.Errorf("path escape: %d", r.StatusCode)
	}
	if r := b.get("/ca.pem"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "BEGIN CERTIFICATE") {
		t.Errorf("ca.pem: %d", r.StatusCode)
	}
}
