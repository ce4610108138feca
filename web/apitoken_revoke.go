package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// revokeAPIToken ends an API token for good.
func (h *handler) revokeAPIToken(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		h.pageFail(c, http.StatusNotFound, "There is no such API token; pick one from the list.")
		return
	}
	if err := h.svc.RevokeAPIToken(c.Request.Context(), h.actor(c), id); err != nil {
		h.logIfInternal(c, err)
		p, perr := h.newUsersPage(c)
		if perr != nil {
			h.pageError(c, perr)
			return
		}
		p.Error = server.PublicMessage(err)
		h.render(c, statusOf(server.ErrorCodeOf(err)), "users", p)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/users?done=revoked")
}
