package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// apiAcceptPendingHost turns a waiting machine into a host: body {name},
// answer {host_id, name}. The credentials go to the agent sealed to its key,
// never through this API.
func (h *handler) apiAcceptPendingHost(c *gin.Context) {
	id, ok := pendingID(c)
	if !ok {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such machine waiting; list them with GET /api/v1/pending-hosts.")
		return
	}
	req, err := decodePendingAcceptRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	hostID, err := h.svc.AcceptPendingHost(c.Request.Context(), h.actor(c), id, req.Name, nil)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"host_id": hostID, "name": req.Name})
}
