package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// createAPIToken makes a bearer token acting as a user and shows it once.
// Like enrollment tokens, it is answered with a page, never a redirect, so
// the token stays out of URLs.
func (h *handler) createAPIToken(c *gin.Context) {
	form := newAPITokenForm(c)
	p, err := h.newUsersPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Token = form
	if msg := form.validate(); msg != "" {
		p.Error = msg
		h.render(c, http.StatusBadRequest, "users", p)
		return
	}
	token, err := h.svc.CreateAPIToken(c.Request.Context(), h.actor(c), form.User, form.Label)
	if err != nil {
		h.logIfInternal(c, err)
		p.Error = server.PublicMessage(err)
		h.render(c, statusOf(server.ErrorCodeOf(err)), "users", p)
		return
	}
	p.NewToken = token
	p.Token = apiTokenForm{}
	p.Notice = "API token created for " + form.User + ". Copy it now; it is not shown again."
	h.render(c, http.StatusOK, "users", p)
}
