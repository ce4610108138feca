package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// updateSourceGroup saves a group's page form: its settings, retention and
// backup schedule ("no schedule" removes the group's schedules), in one
// transaction.
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
	old, err := h.svc.GetSourceGroup(ctx, hostID, ref)
	if err == nil {
		save, serr := groupSave(in, sched, old)
		if err = serr; err == nil {
			old, err = h.svc.SaveSourceGroup(ctx, h.actor(c), hostID, old.Key, save)
		}
	}
	if err != nil {
		status, msg := h.refusal(c, err)
		h.sourceGroupPageRefused(c, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#"+groupAnchor(old.Name))
}
