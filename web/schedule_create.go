package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// createSchedule adds a schedule from the Schedules tab's form: a backup
// of a source group, or a host-wide forget, prune or check.
func (h *handler) createSchedule(c *gin.Context) {
	hostID := c.Param("id")
	form := readScheduleForm(c)
	keep := func(p *hostPage) { p.ScheduleForm, p.ScheduleError = form, -1 }
	in, msg := form.input(false)
	if msg != "" {
		h.hostPageRefused(c, hostID, http.StatusBadRequest, msg, keep)
		return
	}
	if _, err := h.svc.CreateSchedule(c.Request.Context(), h.actor(c), hostID, in); err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#schedules")
}
