package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// createSourceGroup stores a source group from the Sources tab's form, with
// its backup schedule when one is chosen (one transaction), and shows the
// host page at the new group. A refused form comes back with its values
// and one sentence.
func (h *handler) createSourceGroup(c *gin.Context) {
	hostID := c.Param("id")
	form := readSourceGroupForm(c)
	keep := func(p *hostPage) {
		form.hookForm = form.hookForm.keepStatus(p.GroupForm.hookForm)
		p.GroupForm = form
	}
	in, sched, msg := form.input()
	if msg != "" {
		h.hostPageRefused(c, hostID, http.StatusBadRequest, msg, keep)
		return
	}
	var g *server.SourceGroup
	save, err := groupSave(in, sched, nil)
	if err == nil {
		g, err = h.svc.SaveSourceGroup(c.Request.Context(), h.actor(c), hostID, "", save)
	}
	if err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#"+groupAnchor(g.Name))
}
