package web

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// sseKeepAlive is how often an idle stream sends a comment, so proxies and
// load balancers do not close it for inactivity.
const sseKeepAlive = 25 * time.Second

// defaultSessionCheck is how often a stream re-checks its session (see
// Config.SessionCheckInterval).
const defaultSessionCheck = 5 * time.Minute

// streamEvents is the Server-Sent Events stream pages listen to: fleet pages
// without parameters, a host page with ?host=ID, a job page with
// ?job=N&after=L (L: the last log line the page shows), the jobs list with
// ?jobs=1. It sends HTML fragments that HTMX's SSE extension swaps in
// place, so pages update without reload.
func (h *handler) streamEvents(c *gin.Context) {
	cl, msg := h.newStreamClient(c)
	if msg != "" {
		h.pageFail(c, http.StatusBadRequest, msg)
		return
	}
	cl.watchUser(c)
	h.hub.join(cl)
	defer h.hub.leave(cl)

	w := c.Writer
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	// The stream outlives any server-wide write timeout; lift it for this
	// response (ignored where the writer does not support deadlines).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	// The first comment tells the client (and tests) the stream is subscribed.
	if _, err := io.WriteString(w, "retry: 5000\n: connected\n\n"); err != nil {
		return
	}
	w.Flush()

	ping := time.NewTicker(sseKeepAlive)
	defer ping.Stop()
	recheck := time.NewTicker(h.cfg.SessionCheckInterval)
	defer recheck.Stop()
	token, _ := c.Cookie(h.sessionCookieName())
	for {
		select {
		case <-recheck.C:
			if _, _, err := h.svc.LookupSession(c.Request.Context(), token); err != nil {
				return
			}
			continue
		case <-cl.recheck: // the user's access changed (sse_users.go)
			if !h.streamStillAllowed(c.Request.Context(), token, cl) {
				return
			}
			continue
		case <-c.Request.Context().Done():
			return
		case <-h.hub.done:
			return
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return
			}
		case m, ok := <-cl.out:
			if !ok {
				return
			}
			if _, err := io.WriteString(w, encodeSSE(m)); err != nil {
				return
			}
		}
		w.Flush()
	}
}

// newStreamClient reads what the page shows from the query string, or
// says in one sentence what is wrong with it.
func (h *handler) newStreamClient(c *gin.Context) (*sseClient, string) {
	cl := &sseClient{hostID: c.Query("host"), jobs: c.Query("jobs") != ""}
	if s, ok := c.GetQuery("seen"); ok {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, "That page's event position is not valid; reload the page."
		}
		cl.seen, cl.hasSeen = n, true
	}
	if len(cl.hostID) > 64 {
		return nil, "That host ID is too long; open the host from the dashboard."
	}
	if s := c.Query("job"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			return nil, "That job number is not valid; open the job from the jobs page."
		}
		cl.jobID = id
		// The page's last line, or, when the browser reconnects on its own,
		// the last line it received (the id of the last log message).
		for _, v := range []string{c.Query("after"), c.GetHeader("Last-Event-ID")} {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				cl.lastLine = max(cl.lastLine, n)
			}
		}
		if u := currentUser(c); u != nil {
			cl.canRun = u.Role.Allows(server.PermRunJobs)
		}
		if s := currentSession(c); s != nil {
			cl.csrf = s.CSRFToken
		}
	}
	return cl, ""
}

// encodeSSE frames one event. Every line of data gets its own "data:" field,
// and carriage returns (line ends too, in SSE) are normalised first, so a
// fragment can never inject a field of its own.
func encodeSSE(m sseMessage) string {
	data := strings.ReplaceAll(m.data, "\r\n", "\n")
	data = strings.ReplaceAll(data, "\r", "\n")
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(strings.NewReplacer("\r", "", "\n", "").Replace(m.event))
	b.WriteByte('\n')
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if m.id != 0 {
		b.WriteString("id: ")
		b.WriteString(strconv.FormatUint(m.id, 10))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}
