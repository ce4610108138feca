package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// auditPageSize is how many audit rows one page shows.
const auditPageSize = 100

// auditPage is the data of the audit log page.
type auditPage struct {
	page
	Entries   []server.AuditEntry
	Actor     string
	Action    string
	OlderURL  string // next page of older rows, "" at the end
	FirstPage bool
}

// listAudit shows the audit log newest first, filtered by actor and by
// action prefix ("host." finds every host action), paged by row ID.
func (h *handler) listAudit(c *gin.Context) {
	f := server.AuditFilter{
		Actor:  clip(strings.TrimSpace(c.Query("actor")), 100),
		Action: clip(strings.TrimSpace(c.Query("action")), 100),
		Limit:  auditPageSize,
	}
	if b, err := strconv.ParseInt(c.Query("before"), 10, 64); err == nil && b > 0 {
		f.Before = b
	}
	entries, err := h.svc.ListAudit(c.Request.Context(), f)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p := auditPage{page: h.basePage(c, "Audit log", "audit"), Entries: entries, Actor: f.Actor, Action: f.Action, FirstPage: f.Before == 0}
	if len(entries) == auditPageSize {
		q := url.Values{"before": {strconv.FormatInt(entries[len(entries)-1].ID, 10)}}
		if f.Actor != "" {
			q.Set("actor", f.Actor)
		}
		if f.Action != "" {
			q.Set("action", f.Action)
		}
		p.OlderURL = "/admin/audit?" + q.Encode()
	}
	h.render(c, http.StatusOK, "audit", p)
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	return strings.ToValidUTF8(s, "")
}
