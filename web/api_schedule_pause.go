package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiPauseSchedule and apiResumeSchedule stop and restart a schedule on
// the agent (an operator may); answer the schedule.
func (h *handler) apiPauseSchedule(c *gin.Context)  { h.apiSetPaused(c, true) }
func (h *handler) apiResumeSchedule(c *gin.Context) { h.apiSetPaused(c, false) }

func (h *handler) apiSetPaused(c *gin.Context, paused bool) {
	id, ok := scheduleID(c)
	if !ok {
		h.apiError(c, errNoSchedule)
		return
	}
	s, err := h.svc.SetSchedulePaused(c.Request.Context(), h.actor(c), c.Param("id"), id, paused)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, s)
}
