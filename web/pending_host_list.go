package web

import (
	"github.com/gin-gonic/gin"
)

// listPendingHosts renders the Pending hosts panel's contents alone: the
// dashboard's panel re-reads it when machines announce or are decided on.
// It is empty when no machine waits. When the queue is full it says so,
// with how many machines were dropped to make room.
func (h *handler) listPendingHosts(c *gin.Context) {
	q, err := h.svc.PendingQueue(c.Request.Context())
	if err != nil {
		h.pageError(c, err)
		return
	}
	h.renderFragment(c, "dashboard", "pending_body", newPendingPanel(h.basePage(c, "", ""), q))
}
