package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// updateSchedule saves a schedule's edit form; whether it is paused stays
// as it is (pause and resume have their own buttons).
func (h *handler) updateSchedule(c *gin.Context) {
	ctx := c.Request.Context()
	hostID := c.Param("id")
	id, ok := scheduleID(c)
	if !ok {
		h.pageError(c, errNoSchedule)
		return
	}
	list, err := h.svc.ListSchedules(ctx, hostID)
	if err != nil {
		h.pageError(c, err)
		return
	}
	paused, found := false, false
	for _, s := range list {
		if s.ID == id {
			paused, found = s.Paused, true
		}
	}
	if !found {
		h.pageError(c, errNoSchedule)
		return
	}
	form := readScheduleForm(c)
	keep := func(p *hostPage) {
		p.ScheduleError = id
		for i := range p.Schedules {
			if p.Schedules[i].ID == id {
				p.Schedules[i].Form = form
			}
		}
	}
	in, msg := form.input(paused)
	if msg != "" {
		h.hostPageRefused(c, hostID, http.StatusBadRequest, msg, keep)
		return
	}
	if _, err := h.svc.UpdateSchedule(ctx, h.actor(c), hostID, id, in); err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#schedules")
}
