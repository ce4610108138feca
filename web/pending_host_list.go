package web

import (
	"github.com/gin-gonic/gin"
)

// listPendingHosts renders the Pending hosts panel's contents alone: the
// dashboard's panel re-reads it when machines announce or are decided on.
// It is empty when no machine waits. When the queue is full it says so,
// with how many machines were dropped to make room. Opened directly (a
// bookmark, a link, a reload: not an HTMX request) the address shows the
// whole dashboard, whose panel it is, rather than a bare fragment.
func (h *handler) listPendingHosts(c *gin.Context) {
	c.Header("Vary", "HX-Request") // the same address answers a fragment or a page
	if !isHTMX(c.Request) {
		h.showDashboard(c)
		return
	}
	q, err := h.svc.PendingQueue(c.Request.Context())
	if err != nil {
		h.pageError(c, err)
		return
	}
	h.renderFragment(c, "dashboard", "pending_body", newPendingPanel(h.basePage(c, "", ""), q))
}
