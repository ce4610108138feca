package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// submitLogout ends the session in the store (not just in the browser) and
// returns to the sign-in page.
func (h *handler) submitLogout(c *gin.Context) {
	token, _ := c.Cookie(h.sessionCookieName())
	if err := h.svc.DeleteSession(c.Request.Context(), token); err != nil {
		h.pageError(c, err)
		return
	}
	h.clearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/login")
}

// clearSessionCookie tells the browser to forget its session cookie.
func (h *handler) clearSessionCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: h.sessionCookieName(), Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookies(c.Request), SameSite: http.SameSiteLaxMode})
}
