package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
)

// TestRevokeFromHostPage: the danger zone shows only to those who may use
// it, a wrong confirmation changes nothing, and the right one removes the host.
func TestRevokeFromHostPage(t *testing.T) {
	app := newTestApp(t)
	h := app.enrollHost("till-9")
	viewer, _ := app.signedIn("v", server.RoleViewer)
	if body := viewer.get("/hosts/" + h.HostID).body; strings.Contains(body, "Danger zone") {
		t.Fatal("a viewer sees the danger zone")
	}
	admin, csrf := app.signedIn("a", server.RoleAdmin)
	mustContain(t, "host page", admin.get("/hosts/"+h.HostID).body, "Danger zone", "Revoke host")

	res := admin.postForm("/hosts/"+h.HostID+"/revoke", url.Values{"csrf_token": {csrf}, "confirm_name": {"till-8"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong confirmation: %d", res.StatusCode)
	}
	mustContain(t, "refused revoke", res.body, "Type the host")
	if _, err := app.svc.GetHost(t.Context(), h.HostID); err != nil {
		t.Fatalf("a refused revoke removed the host: %v", err)
	}
	res = admin.postForm("/hosts/"+h.HostID+"/revoke", url.Values{"csrf_token": {csrf}, "confirm_name": {"till-9"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?revoked=1" {
		t.Fatalf("revoke: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := app.svc.GetHost(t.Context(), h.HostID); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("revoked host still there: %v", err)
	}
	mustContain(t, "dashboard after revoke", admin.get("/?revoked=1").body, "Revoked.")
}
