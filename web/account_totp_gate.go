package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// enrolFirst sends an admin who must use two-factor sign-in but has not set
// it up (the "require TOTP for admins" setting) to the Account page before
// anything else: every other page and action is refused until they enrol.
// Signing out stays possible. API tokens are not affected.
func (h *handler) enrolFirst(c *gin.Context, sess *server.Session) {
	p := c.Request.URL.Path
	if !sess.MustEnrolTOTP || p == "/account" || strings.HasPrefix(p, "/account/") || p == "/logout" {
		return
	}
	c.Abort()
	const msg = "Admins must use two-factor sign-in on this server; set it up on your Account page first."
	switch {
	case isHTMX(c.Request):
		c.Header("HX-Redirect", "/account")
		c.Status(http.StatusForbidden)
	case c.Request.Method == http.MethodGet && p != "/events":
		c.Redirect(http.StatusSeeOther, "/account")
	default:
		h.fail(c, http.StatusForbidden, server.CodeForbidden, msg)
	}
}
