package web

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// handler holds what every route needs. Each route is a method on it, one
// per file (<resource>_<action>.go), listed in routes.go.
type handler struct {
	cfg         Config
	svc         *server.Service
	log         *slog.Logger
	tpl         *templates
	static      *staticAssets
	hub         *hub
	metrics     *metrics
	enrollLimit *rateLimiter
	health      *healthProbe // /healthz's cached checks (health_show.go)
}

// Keys under which the auth middleware stores the caller in the gin.Context.
const (
	ctxUser    = "rm.user"
	ctxSession = "rm.session"
	ctxVia     = "rm.via"
)

// currentUser is the signed-in user or the API token's user; nil on public routes.
func currentUser(c *gin.Context) *server.User {
	if v, ok := c.Get(ctxUser); ok {
		return v.(*server.User)
	}
	return nil
}

// currentSession is the browser session; nil on API and public routes.
func currentSession(c *gin.Context) *server.Session {
	if v, ok := c.Get(ctxSession); ok {
		return v.(*server.Session)
	}
	return nil
}

// actor is who the domain records in the audit log for this request: the
// user, their role, the client address (as Gin resolves it through trusted
// proxies only) and whether they came through the dashboard or the API.
func (h *handler) actor(c *gin.Context) server.Actor {
	a := server.Actor{RemoteAddr: c.ClientIP(), Via: c.GetString(ctxVia)}
	if u := currentUser(c); u != nil {
		a.UserID, a.Name, a.Role = u.ID, u.Name, u.Role
	}
	return a
}

// publicURL is the base URL for commands shown to people and agents.
func (h *handler) publicURL(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return h.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sessionCookieName is __Host- prefixed under TLS: browsers then refuse the
// cookie unless it is Secure, host-only and for path /, so a sibling
// subdomain cannot plant or overwrite it.
func (h *handler) sessionCookieName() string {
	if h.cfg.Secure {
		return "__Host-rm_session"
	}
	return "rm_session"
}

// secureCookies reports whether cookies set on this response get the Secure
// flag: always under Config.Secure, and on any request that arrived over TLS
// (a server may listen on both HTTP and HTTPS).
func (h *handler) secureCookies(r *http.Request) bool { return h.cfg.Secure || r.TLS != nil }

// isHTMX reports whether the request came from HTMX rather than a navigation.
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// wantsJSON reports whether an error for this request should be JSON.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" || r.URL.Path == "/healthz"
}
