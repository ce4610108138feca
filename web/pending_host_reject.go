package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// rejectPendingHost turns a waiting machine away, then goes back to the
// dashboard.
func (h *handler) rejectPendingHost(c *gin.Context) {
	id, ok := pendingID(c)
	if !ok {
		h.pageFail(c, http.StatusNotFound, "There is no such machine waiting; reload the dashboard.")
		return
	}
	if err := h.svc.RejectPendingHost(c.Request.Context(), h.actor(c), id); err != nil {
		h.logIfInternal(c, err)
		h.dashboardWithError(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/?rejected=1")
}
