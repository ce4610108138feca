package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListHosts returns one page of hosts in (name, id) order,
// {"hosts": [...], "next_cursor": "..." or null}, filtered by ?q=, ?tag=,
// ?state=, ?health= and ?os= (fleet_filter.go), ?limit= hosts at most.
// The next page is ?cursor=<next_cursor> with the same filter, also named
// in a Link header (rel="next") that keeps the filter.
func (h *handler) apiListHosts(c *gin.Context) {
	req, err := hostPageRequest(c.Request.URL.Query())
	if err != nil {
		h.apiError(c, err)
		return
	}
	page, err := h.svc.ListHostsPage(c.Request.Context(), req)
	if err != nil {
		h.apiError(c, err)
		return
	}
	if page.NextCursor != nil {
		q := filterQuery(req.HostFilter, req.Limit)
		q.Set("cursor", *page.NextCursor)
		c.Header("Link", `</api/v1/hosts?`+q.Encode()+`>; rel="next"`)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, page)
}
