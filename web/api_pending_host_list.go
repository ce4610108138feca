package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListPendingHosts returns {"pending_hosts": [...], "queue": {...}}: the
// machines waiting for approval, longest waiting first, and the state of
// the queue they wait in.
func (h *handler) apiListPendingHosts(c *gin.Context) {
	q, err := h.svc.PendingQueue(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"pending_hosts": q.Hosts, "queue": newAPIPendingQueue(q)})
}
