package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// streamEnds waits for an event stream to end; the periodic session check
// is 5 minutes here, so only the user-changed signal can end it in time.
func streamEnds(t *testing.T, s *sseStream, what string) {
	t.Helper()
	select {
	case <-s.ended:
	case <-time.After(15 * time.Second):
		t.Fatalf("the stream outlived %s", what)
	}
}

// TestDisableEndsLiveSessionAndStream: an admin disables a user whose
// dashboard is open; the user's event stream ends at once, their next
// request is refused, and their API token stops.
func TestDisableEndsLiveSessionAndStream(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("boss", server.RoleAdmin)
	id := app.quickUser("wall", server.RoleOperator)
	wall := app.browser()
	wall.login("wall", servertest.Password)
	api := app.apiClient("wall")
	other, _ := app.signedIn("other", server.RoleViewer)
	stream := wall.openEvents("/events")
	otherStream := other.openEvents("/events")

	res := admin.postForm(fmt.Sprintf("/admin/users/%d/disable", id), url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", res.StatusCode, res.body)
	}
	streamEnds(t, stream, "disabling its user")
	if res := wall.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the disabled user's next request: %d", res.StatusCode)
	}
	if res := api.get("/api/v1/hosts"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the disabled user's API token: %d", res.StatusCode)
	}
	// Another user's stream is re-checked too, and stays.
	select {
	case <-otherStream.ended:
		t.Fatal("another user's stream ended")
	default:
	}
	if page := admin.get(fmt.Sprintf("/admin/users/%d?done=disabled", id)); !strings.Contains(page.body, "User disabled") || !strings.Contains(page.body, `id="user-state">disabled`) {
		t.Fatalf("user page after disable:\n%s", page.body)
	}
}

// TestDemoteEndsStreamKeepsSession: a demoted user's stream ends (its page
// re-reads under the new role) while the session goes on with the new role.
func TestDemoteEndsStreamKeepsSession(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("boss", server.RoleAdmin)
	id := app.quickUser("ops", server.RoleOperator)
	b := app.browser()
	b.login("ops", servertest.Password)
	stream := b.openEvents("/events")
	if res := admin.postForm(fmt.Sprintf("/admin/users/%d/role", id), url.Values{"csrf_token": {csrf}, "role": {"viewer"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("role: %d\n%s", res.StatusCode, res.body)
	}
	streamEnds(t, stream, "demoting its user")
	res := b.get("/")
	if res.StatusCode != 200 || !strings.Contains(res.body, `title="Your role">viewer`) {
		t.Fatalf("after demotion: %d", res.StatusCode)
	}
	b.openEvents("/events") // a new stream opens under the new role
}

// TestUserChangedByAnotherProcessEndsStream: a user disabled through a
// second connection to the same database (what the CLI does next to a
// running server) ends their open stream within the hub's poll.
func TestUserChangedByAnotherProcessEndsStream(t *testing.T) {
	app := newTestApp(t)
	app.quickUser("wall", server.RoleViewer)
	b := app.browser()
	b.login("wall", servertest.Password)
	stream := b.openEvents("/events")

	cli, err := server.Open(filepath.Dir(app.svc.DB().Path()), slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	acc, err := cli.AccountByName(t.Context(), "wall")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.DisableUser(t.Context(), server.CLIActor(), acc.ID); err != nil {
		t.Fatal(err)
	}
	streamEnds(t, stream, "a disable by another process")
}

// TestAdminUserPageGuards: the delete needs the typed name; the last
// enabled admin cannot be demoted, disabled or deleted, and the page says
// why in a sentence.
func TestAdminUserPageGuards(t *testing.T) {
	app := newTestApp(t)
	admin, csrf := app.signedIn("boss", server.RoleAdmin)
	id := app.quickUser("gone", server.RoleViewer)
	path := func(action string, uid int64) string { return fmt.Sprintf("/admin/users/%d/%s", uid, action) }
	if res := admin.postForm(path("delete", id), url.Values{"csrf_token": {csrf}, "confirm_name": {"gon"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("delete without the right name: %d", res.StatusCode)
	}
	if res := admin.postForm(path("delete", id), url.Values{"csrf_token": {csrf}, "confirm_name": {"gone"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", res.StatusCode, res.body)
	}
	if _, err := app.svc.Account(t.Context(), id); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("deleted user: %v", err)
	}
	if res := admin.get("/admin/users?done=user_deleted"); !strings.Contains(res.body, "User deleted") {
		t.Fatal("no notice after delete")
	}

	second := app.quickUser("second", server.RoleAdmin)
	if res := admin.postForm(path("disable", second), url.Values{"csrf_token": {csrf}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable the other admin: %d", res.StatusCode)
	}
	self, _ := app.svc.AccountByName(t.Context(), "boss")
	res := admin.postForm(path("role", self.ID), url.Values{"csrf_token": {csrf}, "role": {"operator"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(res.body, "boss is the last enabled admin and cannot be demoted") {
		t.Fatalf("demoting the last admin: %d\n%s", res.StatusCode, res.body)
	}
	if res := admin.postForm(path("delete", self.ID), url.Values{"csrf_token": {csrf}, "confirm_name": {"boss"}}); res.StatusCode != http.StatusConflict {
		t.Fatalf("deleting oneself: %d", res.StatusCode)
	}
}

// TestAPIUsersAndTokens drives the JSON API: list, create, change, reset,
// delete users; list, create and revoke tokens (never shown again).
func TestAPIUsersAndTokens(t *testing.T) {
	app := newTestApp(t)
	app.quickUser("root", server.RoleAdmin)
	api := app.apiClient("root")
	res := api.postJSON("/api/v1/users", `{"name":"carol","role":"operator","password":"a long enough password"}`)
	if res.StatusCode != http.StatusCreated || !strings.Contains(res.body, `"name":"carol"`) || strings.Contains(res.body, "password") {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	carol, _ := app.svc.AccountByName(t.Context(), "carol")
	put := func(body string) response {
		return api.do(http.MethodPut, fmt.Sprintf("/api/v1/users/%d", carol.ID), strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	}
	if res := put(`{"role":"viewer","disabled":true}`); res.StatusCode != 200 || !strings.Contains(res.body, `"role":"viewer"`) || !strings.Contains(res.body, `"disabled":true`) {
		t.Fatalf("update: %d %s", res.StatusCode, res.body)
	}
	if res := put(`{"rol":"viewer"}`); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("misspelled field: %d", res.StatusCode)
	}
	if res := api.get("/api/v1/users"); res.StatusCode != 200 || !strings.Contains(res.body, `"carol"`) {
		t.Fatalf("list: %d %s", res.StatusCode, res.body)
	}
	if res := api.postJSON(fmt.Sprintf("/api/v1/users/%d/password", carol.ID), `{"password":"short"}`); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("short password: %d", res.StatusCode)
	}
	root, _ := app.svc.AccountByName(t.Context(), "root")
	res = api.do(http.MethodPut, fmt.Sprintf("/api/v1/users/%d", root.ID), strings.NewReader(`{"role":"viewer"}`), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(apiErrorOf(t, res).Message, "last enabled admin") {
		t.Fatalf("demoting the last admin: %d %s", res.StatusCode, res.body)
	}

	res = api.postJSON("/api/v1/api-tokens", `{"user":"root","label":"ci"}`)
	if res.StatusCode != http.StatusCreated || !strings.Contains(res.body, `"token":"rmt_`) {
		t.Fatalf("create token: %d %s", res.StatusCode, res.body)
	}
	list := api.get("/api/v1/api-tokens")
	if list.StatusCode != 200 || strings.Contains(list.body, "rmt_") || !strings.Contains(list.body, `"label":"ci"`) || !strings.Contains(list.body, `"last_used_at":"`) {
		t.Fatalf("token list: %s", list.body)
	}
	tokens, _ := app.svc.ListAPITokens(t.Context())
	if res := api.do(http.MethodDelete, fmt.Sprintf("/api/v1/api-tokens/%d", tokens[0].ID), nil, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	// tokens[0] is the test's own token: it stops at once.
	if res := api.get("/api/v1/users"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token still works: %d", res.StatusCode)
	}
	res = app.apiClient("root").do(http.MethodDelete, fmt.Sprintf("/api/v1/users/%d", carol.ID), nil, nil)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", res.StatusCode)
	}
}
