package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListPendingHosts returns {"pending_hosts": [...]}: the machines waiting
// for approval, longest waiting first.
func (h *handler) apiListPendingHosts(c *gin.Context) {
	list, err := h.svc.ListPendingHosts(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	out := make([]apiPendingHost, len(list))
	for i, p := range list {
		out[i] = newAPIPendingHost(p)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"pending_hosts": out})
}
