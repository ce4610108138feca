package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestAPIErrorsPointToOpenAPI: a refusal that sends the caller to the API's
// documentation names the document the server serves, not a page that does
// not exist.
func TestAPIErrorsPointToOpenAPI(t *testing.T) {
	app := newTestApp(t)
	api := app.apiClient(servertest.MustCreateUser(t, app.svc, "ada", server.RoleAdmin).Name)

	cases := []struct {
		name   string
		res    response
		status int
	}{
		{"wrong method", api.do(http.MethodPatch, "/api/v1/hosts", nil, http.Header{"Accept": {"application/json"}}), http.StatusMethodNotAllowed},
		{"unknown field", api.postJSON("/api/v1/users", `{"name":"bob","role":"viewer","pasword":"x"}`), http.StatusBadRequest},
		{"wrong type", api.postJSON("/api/v1/users", `{"name":7}`), http.StatusBadRequest},
		{"schedule of the wrong type", api.postJSON("/api/v1/hosts/h_x/source-groups",
			`{"name":"docs","paths":["/srv"],"schedule":{"preset":7}}`), http.StatusBadRequest},
	}
	for _, c := range cases {
		if c.res.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, c.res.StatusCode, c.status, c.res.body)
			continue
		}
		e := apiErrorOf(t, c.res)
		if !strings.Contains(e.Message, "/api/v1/openapi.json") || strings.Contains(e.Message, "API documentation") {
			t.Errorf("%s: %q does not point to /api/v1/openapi.json", c.name, e.Message)
		}
	}
}
