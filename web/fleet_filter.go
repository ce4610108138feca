package web

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/server"
)

// hostListParams are the query parameters of the host list (GET
// /api/v1/hosts and the dashboard, #15), in the order the error names them.
var hostListParams = []string{"limit", "cursor", "q", "tag", "state", "health", "os"}

// hostPageRequest reads the host list's query string: each parameter at
// most once, no other parameter, the page size a whole number. The domain
// checks the values (ListHostsPage) with the same one-sentence refusals.
// extra names parameters the caller reads itself (the dashboard's notices).
func hostPageRequest(q url.Values, extra ...string) (server.HostPageRequest, error) {
	var req server.HostPageRequest
	for k, v := range q {
		if !slices.Contains(hostListParams, k) {
			if slices.Contains(extra, k) {
				continue
			}
			return req, invalid(fmt.Sprintf("Unknown parameter %q; the host list takes %s.", clip(k, 40), strings.Join(hostListParams, ", ")))
		}
		if len(v) > 1 {
			return req, invalid(fmt.Sprintf("Give the parameter %s once, not %d times.", k, len(v)))
		}
	}
	limit, err := server.ParseHostPageLimit(q.Get("limit"))
	if err != nil {
		return req, err
	}
	req = server.HostPageRequest{Limit: limit, Cursor: q.Get("cursor"), HostFilter: server.HostFilter{
		Query: q.Get("q"), Tag: q.Get("tag"), State: server.HostState(q.Get("state")),
		Health: server.HealthState(q.Get("health")), OS: q.Get("os")}}
	return req, req.HostFilter.Check()
}

// filterQuery is the filter as a query string (with the page size when
// not the default): the next page's link and the dashboard's URL keep it.
func filterQuery(f server.HostFilter, limit int) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Query, "tag": f.Tag, "state": string(f.State), "health": string(f.Health), "os": f.OS} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if limit != 0 {
		v.Set("limit", itoa(int64(limit)))
	}
	return v
}
