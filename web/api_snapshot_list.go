package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListSnapshots returns the host's snapshot list (server.SnapshotList,
// as it is: {host_id, reported_at, snapshots: [...]}) as its agent last
// reported it, newest first (reported_at is null when it never did; run a
// "snapshots" job).
func (h *handler) apiListSnapshots(c *gin.Context) {
	ctx := c.Request.Context()
	hostID := c.Param("id")
	if _, err := h.svc.GetHost(ctx, hostID); err != nil {
		h.apiError(c, err)
		return
	}
	list, err := h.svc.Snapshots(ctx, hostID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, list)
}
