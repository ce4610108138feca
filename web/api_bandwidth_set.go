package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiSetBandwidth sets a host's bandwidth caps (PUT {up_kbps, down_kbps},
// KiB/s, 0 or absent: none); answer the host's config status.
func (h *handler) apiSetBandwidth(c *gin.Context) {
	b, err := decodeBandwidthRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ctx := c.Request.Context()
	hostID := c.Param("id")
	if err := h.svc.SetBandwidth(ctx, h.actor(c), hostID, b); err != nil {
		h.apiError(c, err)
		return
	}
	st, err := h.svc.GetConfigStatus(ctx, hostID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, newAPIConfigStatus(*st))
}
