package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// createEnrollmentToken makes a single-use token and shows, once, the
// commands that enroll a machine with it. The answer is a page, not a
// redirect, so the token never appears in a URL or the browser history.
func (h *handler) createEnrollmentToken(c *gin.Context) {
	form := newEnrollmentForm(c)
	retry := func(status int, message string) {
		p, err := h.newEnrollPage(c)
		if err != nil {
			h.pageError(c, err)
			return
		}
		p.Form, p.Error = form, message
		h.render(c, status, "enroll", p)
	}
	if msg := form.validate(); msg != "" {
		retry(http.StatusBadRequest, msg)
		return
	}
	ttl, _ := form.duration()
	token, t, err := h.svc.CreateEnrollmentToken(c.Request.Context(), h.actor(c), form.HostName, ttl)
	if err != nil {
		h.logIfInternal(c, err)
		retry(statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	p, err := h.newEnrollPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Created = &createdToken{HostName: t.HostName, ExpiresAt: t.ExpiresAt, Commands: h.enrollCommandsFor(h.publicURL(c.Request), token)}
	p.Notice = "Token created for " + t.HostName + ". Run one of the commands below on that machine; the token works once."
	h.render(c, http.StatusOK, "enroll", p)
}
