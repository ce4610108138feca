package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// apiRejectPendingHost turns a waiting machine away: answer {id, state}.
func (h *handler) apiRejectPendingHost(c *gin.Context) {
	id, ok := pendingID(c)
	if !ok {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such machine waiting; list them with GET /api/v1/pending-hosts.")
		return
	}
	if err := h.svc.RejectPendingHost(c.Request.Context(), h.actor(c), id); err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"id": id, "state": server.PendingStateRejected})
}
