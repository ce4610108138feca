package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiUpdateSchedule replaces a schedule (PUT, the same body as create).
func (h *handler) apiUpdateSchedule(c *gin.Context) {
	id, ok := scheduleID(c)
	if !ok {
		h.apiError(c, errNoSchedule)
		return
	}
	in, err := decodeScheduleRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	s, err := h.svc.UpdateSchedule(c.Request.Context(), h.actor(c), c.Param("id"), id, in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, s)
}
