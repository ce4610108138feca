package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// deleteSchedule removes a schedule (the form asks the browser to confirm).
func (h *handler) deleteSchedule(c *gin.Context) {
	hostID := c.Param("id")
	id, ok := scheduleID(c)
	if !ok {
		h.pageError(c, errNoSchedule)
		return
	}
	if err := h.svc.DeleteSchedule(c.Request.Context(), h.actor(c), hostID, id); err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, func(*hostPage) {})
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#schedules")
}
