package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiDeleteSchedule removes a schedule. Answer 204.
func (h *handler) apiDeleteSchedule(c *gin.Context) {
	id, ok := scheduleID(c)
	if !ok {
		h.apiError(c, errNoSchedule)
		return
	}
	if err := h.svc.DeleteSchedule(c.Request.Context(), h.actor(c), c.Param("id"), id); err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}
