package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// pauseSchedule and resumeSchedule stop and restart a schedule on the
// agent (operators may); the host page's Schedules tab shows the result.
func (h *handler) pauseSchedule(c *gin.Context)  { h.setPaused(c, true) }
func (h *handler) resumeSchedule(c *gin.Context) { h.setPaused(c, false) }

func (h *handler) setPaused(c *gin.Context, paused bool) {
	hostID := c.Param("id")
	id, ok := scheduleID(c)
	if !ok {
		h.pageError(c, errNoSchedule)
		return
	}
	if _, err := h.svc.SetSchedulePaused(c.Request.Context(), h.actor(c), hostID, id, paused); err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, func(*hostPage) {})
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#schedules")
}
