package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// revokeHost is the host page's danger zone: the admin types the host's name
// to confirm, the host is cut off, and the dashboard says so.
func (h *handler) revokeHost(c *gin.Context) {
	id := c.Param("id")
	err := h.svc.RevokeHost(c.Request.Context(), h.actor(c), id, c.PostForm("confirm_name"))
	if err != nil {
		h.logIfInternal(c, err)
		host, gerr := h.svc.GetHost(c.Request.Context(), id)
		if gerr != nil {
			h.pageError(c, err)
			return
		}
		p := hostPage{page: h.basePage(c, host.Name, "fleet"), Host: newHostView(*host)}
		p.Error = server.PublicMessage(err)
		h.render(c, statusOf(server.ErrorCodeOf(err)), "host", p)
		return
	}
	c.Redirect(http.StatusSeeOther, "/?revoked=1")
}
