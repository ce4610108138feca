package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// createSourceGroup stores a source group from the Sources tab's form, with
// its backup schedule when one is chosen, and shows the host page at the
// new group. A refused form comes back with its values and one sentence.
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
	g, err := h.storeNewSourceGroup(c.Request.Context(), h.actor(c), hostID, in, sched)
	if err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#"+groupAnchor(g.Name))
}
