package web

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// The second sign-in step. After the right password, a user with TOTP on
// gets a short-lived challenge (a cookie) and this page instead of a
// session; the session starts only when the code (or a recovery code) is
// right. The domain counts wrong codes per challenge and per account.

// loginCodePage is the data of the code step.
type loginCodePage struct {
	page
	Name string
	Next string
}

// challengeCookieName holds the challenge token between the two steps.
func (h *handler) challengeCookieName() string {
	if h.cfg.Secure {
		return "__Host-rm_2fa"
	}
	return "rm_2fa"
}

// askSecondFactor starts the code step when user has TOTP on and reports
// whether it did (the caller then stops).
func (h *handler) askSecondFactor(c *gin.Context, user *server.User, next string) bool {
	token, err := h.svc.BeginSecondFactor(c.Request.Context(), user, c.ClientIP())
	if err != nil {
		h.pageError(c, err)
		return true
	}
	if token == "" {
		return false
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: h.challengeCookieName(), Value: token, Path: "/",
		MaxAge: int(server.SignInChallengeTTL.Seconds()), HttpOnly: true, Secure: h.secureCookies(c.Request), SameSite: http.SameSiteStrictMode})
	c.Redirect(http.StatusSeeOther, "/login/totp?next="+url.QueryEscape(next))
	return true
}

// showLoginCode shows the code form, or sends the browser back to the
// password step when its challenge has ended.
func (h *handler) showLoginCode(c *gin.Context) {
	token, _ := c.Cookie(h.challengeCookieName())
	next := safeNext(c.Query("next"))
	name, err := h.svc.ChallengeUser(c.Request.Context(), token)
	if err != nil {
		if server.ErrorCodeOf(err) != server.CodeUnauthorized {
			h.pageError(c, err)
			return
		}
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		return
	}
	h.renderLoginCode(c, http.StatusOK, name, next, "")
}

func (h *handler) renderLoginCode(c *gin.Context, status int, name, next, msg string) {
	p := loginCodePage{page: h.basePage(c, "Two-factor sign-in", ""), Name: name, Next: next}
	p.CSRF = h.ensureSignInToken(c)
	p.Error, p.OwnMessages = msg, true
	h.render(c, status, "login_totp", p)
}

// submitLoginCode checks the code and starts the session.
func (h *handler) submitLoginCode(c *gin.Context) {
	token, _ := c.Cookie(h.challengeCookieName())
	next := safeNext(c.PostForm("next"))
	code := c.PostForm("code")
	if code == "" || len(code) > 64 {
		name, err := h.svc.ChallengeUser(c.Request.Context(), token)
		if err != nil {
			h.codeRefused(c, next, "", err)
			return
		}
		h.renderLoginCode(c, http.StatusBadRequest, name, next, "Enter the 6-digit code your authenticator app shows, or a recovery code.")
		return
	}
	name, _ := h.svc.ChallengeUser(c.Request.Context(), token)
	user, err := h.svc.CompleteSecondFactor(c.Request.Context(), token, code)
	if err != nil {
		h.codeRefused(c, next, name, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: h.challengeCookieName(), Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookies(c.Request), SameSite: http.SameSiteStrictMode})
	h.startSession(c, user, next)
}

// codeRefused answers a wrong or late code: the code form again while the
// challenge lives, else the password form with the sentence.
func (h *handler) codeRefused(c *gin.Context, next, name string, err error) {
	code := server.ErrorCodeOf(err)
	switch code {
	case server.CodeInvalid:
		h.renderLoginCode(c, http.StatusUnauthorized, name, next, server.PublicMessage(err))
	case server.CodeRateLimited:
		h.renderLoginCode(c, http.StatusTooManyRequests, name, next, server.PublicMessage(err))
	case server.CodeUnauthorized:
		http.SetCookie(c.Writer, &http.Cookie{Name: h.challengeCookieName(), Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: h.secureCookies(c.Request), SameSite: http.SameSiteStrictMode})
		p := loginPage{page: h.basePage(c, "Sign in", ""), Name: name, Next: next}
		p.CSRF = h.ensureSignInToken(c)
		p.Error, p.OwnMessages = server.PublicMessage(err), true
		h.render(c, http.StatusUnauthorized, "login", p)
	default:
		h.pageError(c, err)
	}
}
