package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// contentSecurityPolicy allows only this origin's own files: no inline
// scripts or styles, no frames, forms posting only here. The templates keep
// to it (no style= or on*= attributes) and HTMX is told not to inject its
// indicator styles or evaluate code (see layout.html).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// securityHeaders sets the headers every response carries.
func (h *handler) securityHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if h.cfg.Secure {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// accessLog writes one structured line per request and counts it for
// /metrics. It logs the path without the query string (which might hold a
// secret someone pasted) and never headers, cookies or bodies.
func (h *handler) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	h.metrics.countRequest(c.Request.Method, route, status)
	attrs := []any{
		"method", c.Request.Method,
		"path", c.Request.URL.Path,
		"status", status,
		"bytes", c.Writer.Size(),
		"duration", time.Since(start).Round(time.Microsecond),
		"ip", c.ClientIP(),
	}
	if u := currentUser(c); u != nil {
		attrs = append(attrs, "user", u.Name)
	}
	h.log.Info("http", attrs...)
}

// recoverPanics turns a panic in a handler into a logged 500 with a sentence
// for the person, and keeps the server running.
func (h *handler) recoverPanics(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.Abort()
			if !c.Writer.Written() {
				h.fail(c, http.StatusInternalServerError, server.CodeInternal, server.PublicMessage(nil))
			}
		}
	}()
	c.Next()
}

// notFound answers paths that are not in the route table: a person is sent
// back to the dashboard, an API client to the list of API addresses.
func (h *handler) notFound(c *gin.Context) {
	if wantsJSON(c.Request) {
		h.fail(c, http.StatusNotFound, server.CodeNotFound, "There is no API endpoint at this path; /api/v1/openapi.json lists every path the API has.")
		return
	}
	h.fail(c, http.StatusNotFound, server.CodeNotFound, "There is nothing at this address; check the link or go back to the dashboard.")
}

// methodNotAllowed answers a known path called with the wrong method.
func (h *handler) methodNotAllowed(c *gin.Context) {
	h.fail(c, http.StatusMethodNotAllowed, server.CodeInvalid, "This address does not accept "+c.Request.Method+" requests; /api/v1/openapi.json lists the methods of every API address.")
}

// setRetryAfter sends the wait a refusal asks for (server.Error.RetryAfter)
// as a Retry-After header in whole seconds, rounded up.
func setRetryAfter(c *gin.Context, err error) {
	if d := server.RetryAfterOf(err); d > 0 {
		c.Header("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}

// anonymousBodyMax caps the body of a caller not known yet: a sign-in form
// or an enroll request is a few hundred bytes.
const anonymousBodyMax = 64 << 10

// readAnonymousBody reads the whole body of a request whose caller has not
// proven who it is (sign-in, agent enrollment) before anything looks at it:
// at most anonymousBodyMax bytes within Config.AnonymousBodyTimeout, or the
// request is refused and the connection closed. The attack run held 1,500
// connections for 50+ s by sending such bodies a byte at a time.
func (h *handler) readAnonymousBody(c *gin.Context) {
	rc := http.NewResponseController(c.Writer)
	refuse := func(status int, message string) {
		// Read nothing more: net/http would otherwise wait for the rest
		// of the body (under the deadline) before closing the connection.
		_ = rc.SetReadDeadline(time.Now())
		c.Header("Connection", "close")
		h.fail(c, status, server.CodeInvalid, message)
		c.Abort()
	}
	tooBig := fmt.Sprintf("The request body is over %d KiB; this address takes only a short form.", anonymousBodyMax>>10)
	if c.Request.ContentLength > anonymousBodyMax {
		refuse(http.StatusRequestEntityTooLarge, tooBig)
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(h.cfg.AnonymousBodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, anonymousBodyMax))
	var over *http.MaxBytesError
	switch {
	case errors.As(err, &over):
		refuse(http.StatusRequestEntityTooLarge, tooBig)
		return
	case err != nil:
		refuse(http.StatusRequestTimeout, "The request body did not arrive in time; check the connection and send it again.")
		return
	}
	// The body is in memory now: lift the deadline so that the connection's
	// background read does not cancel the request while it is handled.
	_ = rc.SetReadDeadline(time.Time{})
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
}
