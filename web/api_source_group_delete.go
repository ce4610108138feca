package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiDeleteSourceGroup removes a source group and its schedules; its
// snapshots stay in the repository. Answer 204.
func (h *handler) apiDeleteSourceGroup(c *gin.Context) {
	if err := h.svc.DeleteSourceGroup(c.Request.Context(), h.actor(c), c.Param("id"), c.Param("group")); err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}
