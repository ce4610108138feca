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
		h.hostPageWithError(c, id, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err), jobForm{})
		return
	}
	c.Redirect(http.StatusSeeOther, "/?revoked=1")
}
