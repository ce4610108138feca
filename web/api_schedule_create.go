package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiCreateSchedule adds a schedule: {kind, source_group (backup), preset
// fields or cron, time_zone, jitter_seconds, catch_up, read_data_subset
// (check), paused}; answer 201 with the schedule and its next run.
func (h *handler) apiCreateSchedule(c *gin.Context) {
	in, err := decodeScheduleRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	hostID := c.Param("id")
	s, err := h.svc.CreateSchedule(c.Request.Context(), h.actor(c), hostID, in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Location", "/api/v1/hosts/"+hostID+"/schedules/"+itoa(s.ID))
	c.JSON(http.StatusCreated, s)
}
