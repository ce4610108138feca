package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiShowRepository returns a host's repository state: whether it is
// ready, the redacted URL and the backend variables by name. Secrets are
// write-only: no route ever returns them.
func (h *handler) apiShowRepository(c *gin.Context) {
	ctx := c.Request.Context()
	hostID := c.Param("id")
	if _, err := h.svc.GetHost(ctx, hostID); err != nil {
		h.apiError(c, err)
		return
	}
	repo, err := h.svc.GetRepository(ctx, hostID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, repo)
}
