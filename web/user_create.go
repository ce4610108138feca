package web

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// createUser adds a user with a role; the domain writes the audit row.
func (h *handler) createUser(c *gin.Context) {
	form := newUserForm(c)
	retry := func(status int, message string) {
		p, err := h.newUsersPage(c)
		if err != nil {
			h.pageError(c, err)
			return
		}
		form.Password = "" // never echoed back
		p.Form, p.Error = form, message
		h.render(c, status, "users", p)
	}
	if msg := form.validate(); msg != "" {
		retry(http.StatusBadRequest, msg)
		return
	}
	u, err := h.svc.CreateUser(c.Request.Context(), h.actor(c), form.Name, server.Role(form.Role), form.Password)
	if err != nil {
		h.logIfInternal(c, err)
		retry(statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/users?created="+url.QueryEscape(u.Name))
}
