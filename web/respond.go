package web

import (
	"bytes"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// page is what every page template gets; page structs embed it.
type page struct {
	Title        string
	Nav          string // which navigation entry is current
	User         *server.User
	CSRF         string
	Version      string
	Notice       string // one sentence: what just worked
	Error        string // one sentence: what went wrong and what to do
	CanConfigure bool
	IsAdmin      bool
	OwnMessages  bool // the page shows Error itself (sign-in form, error page)
	// FleetSeq is the event hub's position when the page began reading
	// what it shows; a fleet page opens its stream with it (?seen=), and
	// the hub tells it to re-read itself when fleet pages were sent
	// anything in between (sse_hub.go, join).
	FleetSeq uint64
}

// basePage fills the parts of page that come from the request.
func (h *handler) basePage(c *gin.Context, title, nav string) page {
	p := page{Title: title, Nav: nav, Version: h.cfg.Version, User: currentUser(c)}
	if h.hub != nil {
		p.FleetSeq = h.hub.fleetSeq.Load()
	}
	if s := currentSession(c); s != nil {
		p.CSRF = s.CSRFToken
	}
	if p.User != nil {
		p.CanConfigure = p.User.Role.Allows(server.PermConfigure)
		p.IsAdmin = p.User.Role.Allows(server.PermAdmin)
	}
	return p
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (h *handler) render(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.tpl.page(&buf, name, data); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte(server.PublicMessage(nil)))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// renderFragment executes one template of a page's set, for HTMX requests
// that re-read a part of a page.
func (h *handler) renderFragment(c *gin.Context, pageName, tmpl string, data any) {
	var buf bytes.Buffer
	if err := h.tpl.fragment(&buf, pageName, tmpl, data); err != nil {
		h.log.Error("render fragment", "page", pageName, "template", tmpl, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte(server.PublicMessage(nil)))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// errorPage is the data of the error page.
type errorPage struct {
	page
	Status int
}

// pageFail renders the error page with status and one sentence.
func (h *handler) pageFail(c *gin.Context, status int, message string) {
	p := errorPage{page: h.basePage(c, http.StatusText(status), ""), Status: status}
	p.Error, p.OwnMessages = message, true
	h.render(c, status, "error", p)
}

// pageError renders err on the error page with the status its code implies;
// internal errors are logged with their cause and shown as a generic sentence.
func (h *handler) pageError(c *gin.Context, err error) {
	h.logIfInternal(c, err)
	setRetryAfter(c, err)
	h.pageFail(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
}

// apiErrorBody is every JSON error: a stable code and one sentence.
type apiErrorBody struct {
	Error   server.ErrorCode `json:"error"`
	Message string           `json:"message"`
}

// apiFail writes a JSON error.
func (h *handler) apiFail(c *gin.Context, status int, code server.ErrorCode, message string) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, apiErrorBody{Error: code, Message: message})
}

// apiError writes err as a JSON error with the status its code implies.
func (h *handler) apiError(c *gin.Context, err error) {
	h.logIfInternal(c, err)
	setRetryAfter(c, err)
	code := server.ErrorCodeOf(err)
	h.apiFail(c, statusOf(code), code, server.PublicMessage(err))
}

// fail answers in the format the request expects: JSON for the API, a page
// for browsers.
func (h *handler) fail(c *gin.Context, status int, code server.ErrorCode, message string) {
	if wantsJSON(c.Request) {
		h.apiFail(c, status, code, message)
		return
	}
	h.pageFail(c, status, message)
}

func (h *handler) logIfInternal(c *gin.Context, err error) {
	if server.ErrorCodeOf(err) == server.CodeInternal {
		h.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	}
}

// statusOf maps a domain error code to an HTTP status.
func statusOf(code server.ErrorCode) int {
	switch code {
	case server.CodeInvalid:
		return http.StatusBadRequest
	case server.CodeUnauthorized:
		return http.StatusUnauthorized
	case server.CodeForbidden:
		return http.StatusForbidden
	case server.CodeNotFound:
		return http.StatusNotFound
	case server.CodeConflict, server.CodeHostOffline:
		return http.StatusConflict
	case server.CodeRateLimited:
		return http.StatusTooManyRequests
	case server.CodeUnavailable:
		return http.StatusServiceUnavailable
	case server.CodeAgentTimeout:
		return http.StatusGatewayTimeout
	case server.CodeAgentFailed:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}
