package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListHosts returns {"hosts": [...]}, every enrolled host by name;
// ?tag=site:lyon keeps the hosts carrying that tag (fleet_filter.go).
func (h *handler) apiListHosts(c *gin.Context) {
	hosts, err := h.svc.ListHosts(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	if hosts, err = hostsTagged(hosts, c.Query("tag")); err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"hosts": hosts})
}
