package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// deleteUser removes a user once their name is typed to confirm. The audit
// log keeps their history.
func (h *handler) deleteUser(c *gin.Context) {
	id, ok := h.userIDParam(c)
	if !ok {
		return
	}
	acc, err := h.svc.Account(c.Request.Context(), id)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if strings.TrimSpace(c.PostForm("confirm_name")) != acc.Name {
		h.renderUser(c, id, http.StatusBadRequest, "Type the user name exactly to confirm the deletion.")
		return
	}
	if _, err := h.svc.DeleteUser(c.Request.Context(), h.actor(c), id); err != nil {
		h.logIfInternal(c, err)
		h.renderUser(c, id, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/users?done=user_deleted")
}
