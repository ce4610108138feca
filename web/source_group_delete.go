package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// deleteSourceGroup removes a group and its schedules once its name was
// typed out; its snapshots stay in the repository.
func (h *handler) deleteSourceGroup(c *gin.Context) {
	ctx := c.Request.Context()
	hostID, ref := c.Param("id"), c.Param("group")
	g, err := h.svc.GetSourceGroup(ctx, hostID, ref)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if strings.TrimSpace(c.PostForm("confirm_name")) != g.Name {
		h.sourceGroupPageRefused(c, http.StatusBadRequest, "Type the group's name exactly to delete it; nothing was deleted.",
			func(p *sourceGroupPage) { p.ConfirmError = true })
		return
	}
	if err := h.svc.DeleteSourceGroup(ctx, h.actor(c), hostID, itoa(g.ID)); err != nil {
		status, msg := h.refusal(c, err)
		h.sourceGroupPageRefused(c, status, msg, func(*sourceGroupPage) {})
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?deleted=1#sources")
}
