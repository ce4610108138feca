package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// submitLogin checks the name and password (the domain throttles failures
// per name and per address), starts a session and goes to the page the
// person first asked for.
func (h *handler) submitLogin(c *gin.Context) {
	form := newLoginForm(c)
	retry := func(status int, message string) {
		p := loginPage{page: h.basePage(c, "Sign in", ""), Name: form.Name, Next: form.Next}
		p.CSRF = h.ensureSignInToken(c)
		p.Error, p.OwnMessages = message, true
		h.render(c, status, "login", p)
	}
	if msg := form.validate(); msg != "" {
		retry(http.StatusBadRequest, msg)
		return
	}
	user, err := h.svc.Login(c.Request.Context(), form.Name, form.Password, c.ClientIP())
	if err != nil {
		switch code := server.ErrorCodeOf(err); code {
		case server.CodeUnauthorized:
			retry(http.StatusUnauthorized, "Wrong user name or password; check both and try again.")
		case server.CodeRateLimited, server.CodeUnavailable:
			// The sentence says how long to wait; Retry-After says it to programs.
			setRetryAfter(c, err)
			retry(statusOf(code), server.PublicMessage(err))
		default:
			h.logIfInternal(c, err)
			retry(statusOf(code), server.PublicMessage(err))
		}
		return
	}
	// With TOTP on, the password only opens the code step (login_totp.go).
	if h.askSecondFactor(c, user, form.Next) {
		return
	}
	h.startSession(c, user, form.Next)
}

// startSession signs user in: the session cookie, the sign-in form's CSRF
// cookie gone, and on to next.
func (h *handler) startSession(c *gin.Context, user *server.User, next string) {
	token, sess, err := h.svc.CreateSession(c.Request.Context(), user, c.ClientIP(), c.Request.UserAgent())
	if err != nil {
		h.pageError(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.sessionCookieName(), Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: h.secureCookies(c.Request), SameSite: http.SameSiteLaxMode,
	})
	http.SetCookie(c.Writer, &http.Cookie{Name: h.signInCookieName(), Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookies(c.Request), SameSite: http.SameSiteStrictMode})
	h.log.Info("signed in", "user", user.Name, "ip", c.ClientIP())
	c.Redirect(http.StatusSeeOther, next)
}
