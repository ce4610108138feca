package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// loginPage is the data of the sign-in page.
type loginPage struct {
	page
	Name string
	Next string
}

// showLogin shows the sign-in form, or goes straight on when already signed in.
func (h *handler) showLogin(c *gin.Context) {
	next := safeNext(c.Query("next"))
	if token, err := c.Cookie(h.sessionCookieName()); err == nil && token != "" {
		if _, _, err := h.svc.LookupSession(c.Request.Context(), token); err == nil {
			c.Redirect(http.StatusSeeOther, next)
			return
		}
	}
	p := loginPage{page: h.basePage(c, "Sign in", ""), Next: next}
	p.OwnMessages = true
	p.CSRF = h.ensureSignInToken(c)
	h.render(c, http.StatusOK, "login", p)
}

// signInCookieName holds the sign-in form's CSRF token. Before signing in
// there is no session to keep a token in, so the form and a cookie carry the
// same random value and POST /login checks that they match (double submit):
// another site can make a browser post the form but cannot read the cookie.
func (h *handler) signInCookieName() string {
	if h.cfg.Secure {
		return "__Host-rm_signin"
	}
	return "rm_signin"
}

// ensureSignInToken returns the sign-in CSRF token, setting its cookie first
// when the browser has none.
func (h *handler) ensureSignInToken(c *gin.Context) string {
	if v, err := c.Cookie(h.signInCookieName()); err == nil && len(v) >= 32 && len(v) <= 64 {
		return v
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.signInCookieName(), Value: v, Path: "/", MaxAge: int((12 * time.Hour).Seconds()),
		HttpOnly: true, Secure: h.secureCookies(c.Request), SameSite: http.SameSiteStrictMode,
	})
	return v
}

// checkSignInCSRF guards POST /login with the double-submit token.
func (h *handler) checkSignInCSRF(c *gin.Context) {
	if isSafeMethod(c.Request.Method) {
		return
	}
	cookie, _ := c.Cookie(h.signInCookieName())
	if !tokensEqual(cookie, c.PostForm(csrfField)) {
		c.Abort()
		h.pageFail(c, http.StatusForbidden, "The sign-in form expired; reload the page and sign in again.")
	}
}
