package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiShowHost returns one host.
func (h *handler) apiShowHost(c *gin.Context) {
	host, err := h.svc.GetHost(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.apiError(c, err)
		return
	}
	st, err := h.svc.GetConfigStatus(c.Request.Context(), host.ID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, apiHostWithConfig{Host: host, Config: newAPIConfigStatus(*st)})
}
