package web

import (
	"github.com/gin-gonic/gin"
)

// listPendingHosts renders the Pending hosts panel's contents alone: the
// dashboard's panel re-reads it when machines announce or are decided on.
// It is empty when no machine waits.
func (h *handler) listPendingHosts(c *gin.Context) {
	list, err := h.svc.ListPendingHosts(c.Request.Context())
	if err != nil {
		h.pageError(c, err)
		return
	}
	h.renderFragment(c, "dashboard", "pending_body", newPendingPanel(h.basePage(c, "", ""), list))
}
