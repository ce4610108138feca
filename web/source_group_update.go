package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// updateSourceGroup saves a group's page form: its settings, retention and
// backup schedule ("no schedule" removes the group's schedules).
func (h *handler) updateSourceGroup(c *gin.Context) {
	ctx := c.Request.Context()
	hostID, ref := c.Param("id"), c.Param("group")
	form := readSourceGroupForm(c)
	keep := func(p *sourceGroupPage) {
		form.hookForm = form.hookForm.keepStatus(p.Form.hookForm)
		p.Form = form
	}
	in, sched, msg := form.input()
	if msg != "" {
		h.sourceGroupPageRefused(c, http.StatusBadRequest, msg, keep)
		return
	}
	if sched != nil {
		// Pause and resume have their own buttons: an edit keeps the state.
		if old, err := h.svc.GetSourceGroup(ctx, hostID, ref); err == nil && len(old.Schedules) > 0 {
			sched.Paused = old.Schedules[0].Paused
		}
	}
	a := h.actor(c)
	g, err := h.storeSourceGroup(ctx, a, hostID, ref, in, sched)
	if err == nil && sched == nil {
		for _, s := range g.Schedules {
			if err = h.svc.DeleteSchedule(ctx, a, hostID, s.ID); err != nil {
				break
			}
		}
	}
	if err != nil {
		status, msg := h.refusal(c, err)
		h.sourceGroupPageRefused(c, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#"+groupAnchor(g.Name))
}
