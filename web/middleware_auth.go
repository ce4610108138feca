package web

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// csrfField and csrfHeader carry the session's CSRF token: the field in
// every form, the header on HTMX requests (set once on <body> via hx-headers).
const (
	csrfField  = "csrf_token"
	csrfHeader = "X-CSRF-Token"
)

// requireSession loads the browser session from its cookie. Without a live
// session a page navigation is sent to the sign-in page (coming back here
// afterwards); anything else gets 401.
func (h *handler) requireSession(c *gin.Context) {
	token, _ := c.Cookie(h.sessionCookieName())
	sess, user, err := h.svc.LookupSession(c.Request.Context(), token)
	if err != nil {
		c.Abort()
		if server.ErrorCodeOf(err) != server.CodeUnauthorized {
			h.pageError(c, err)
			return
		}
		if token != "" {
			h.clearSessionCookie(c)
		}
		switch {
		case isHTMX(c.Request):
			c.Header("HX-Redirect", "/login")
			c.Status(http.StatusUnauthorized)
		case c.Request.Method == http.MethodGet && c.Request.URL.Path != "/events":
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		default:
			h.fail(c, http.StatusUnauthorized, server.CodeUnauthorized, server.PublicMessage(err))
		}
		return
	}
	c.Set(ctxUser, user)
	c.Set(ctxSession, sess)
	h.enrolFirst(c, sess)
}

// checkCSRF refuses a state-changing browser request unless it carries the
// session's CSRF token, so another site cannot make a signed-in browser act.
// SameSite=Lax already stops most of that; the token also covers browsers
// and same-site subdomains that Lax does not.
func (h *handler) checkCSRF(c *gin.Context) {
	if isSafeMethod(c.Request.Method) {
		return
	}
	sent := c.GetHeader(csrfHeader)
	if sent == "" {
		sent = c.PostForm(csrfField)
	}
	if !tokensEqual(sent, currentSession(c).CSRFToken) {
		h.log.Warn("csrf token missing or wrong", "path", c.Request.URL.Path, "ip", c.ClientIP(), "user", currentUser(c).Name)
		c.Abort()
		h.pageFail(c, http.StatusForbidden, "This form has expired or did not come from this dashboard; reload the page and try again.")
	}
}

// requirePerm refuses callers whose role lacks p: 403 and nothing changes.
func (h *handler) requirePerm(p server.Perm) gin.HandlerFunc {
	return func(c *gin.Context) {
		u := currentUser(c)
		if u != nil && u.Role.Allows(p) {
			return
		}
		c.Abort()
		msg := "Your role does not allow this; ask an admin."
		if u != nil {
			msg = "Your role (" + string(u.Role) + ") does not allow this; ask an admin."
		}
		if wantsJSON(c.Request) {
			h.apiFail(c, http.StatusForbidden, server.CodeForbidden, msg)
			return
		}
		h.pageFail(c, http.StatusForbidden, msg)
	}
}

// requireBearer authenticates an API call by its bearer token.
func (h *handler) requireBearer(c *gin.Context) {
	scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		c.Abort()
		c.Header("WWW-Authenticate", `Bearer realm="restic-manager"`)
		h.apiFail(c, http.StatusUnauthorized, server.CodeUnauthorized,
			"Send an API token as 'Authorization: Bearer <token>'; create one with 'restic-manager apitoken create --user NAME'.")
		return
	}
	user, err := h.svc.LookupAPIToken(c.Request.Context(), strings.TrimSpace(token))
	if err != nil {
		c.Abort()
		if server.ErrorCodeOf(err) == server.CodeUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="restic-manager", error="invalid_token"`)
		}
		h.apiError(c, err)
		return
	}
	c.Set(ctxUser, user)
}

// limitEnroll spends one of the client address's enroll attempts; the
// handler gives it back when the enrollment succeeds (see rateLimiter).
func (h *handler) limitEnroll(c *gin.Context) {
	if !h.enrollLimit.allow(c.ClientIP()) {
		h.metrics.enrollRateLimited.Add(1)
		c.Abort()
		c.Header("Retry-After", "60")
		h.apiFail(c, http.StatusTooManyRequests, server.CodeRateLimited,
			"Too many failed enroll attempts from this address; wait a minute, then check the token and try again.")
	}
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// tokensEqual compares secrets in constant time; an empty token never matches.
func tokensEqual(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
