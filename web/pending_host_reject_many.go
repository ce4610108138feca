package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// rejectPendingHosts turns many waiting machines away at once (the panel's
// "Reject selected" and "Reject all from address"), then goes back to the
// dashboard, which says how many were rejected.
func (h *handler) rejectPendingHosts(c *gin.Context) {
	form := newBulkRejectForm(c)
	if msg := form.validate(); msg != "" {
		h.dashboardWithError(c, http.StatusBadRequest, msg)
		return
	}
	ids, err := h.svc.RejectPendingHosts(c.Request.Context(), h.actor(c), form.IDs, form.SourceAddr)
	if err != nil {
		h.logIfInternal(c, err)
		h.dashboardWithError(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/?rejected="+itoa(int64(len(ids))))
}
