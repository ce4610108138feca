package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListSchedules returns every schedule of a host, with next and last
// run: {host_id, schedules}.
func (h *handler) apiListSchedules(c *gin.Context) {
	hostID := c.Param("id")
	list, err := h.svc.ListSchedules(c.Request.Context(), hostID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"host_id": hostID, "schedules": list})
}
