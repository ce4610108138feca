package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// revokeRequest is the body of POST /api/v1/hosts/:id/revoke: the host's
// name again, as the dashboard asks for it typed out.
type revokeRequest struct {
	Confirm string `json:"confirm"`
}

// apiRevokeHost cuts a host off: answer {id, revoked: true}.
func (h *handler) apiRevokeHost(c *gin.Context) {
	var req revokeRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	id := c.Param("id")
	if err := h.svc.RevokeHost(c.Request.Context(), h.actor(c), id, req.Confirm); err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"id": id, "revoked": true})
}
