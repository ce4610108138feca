package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListSourceGroups returns a host's source groups with their backup
// schedules and last backups: {host_id, source_groups}.
func (h *handler) apiListSourceGroups(c *gin.Context) {
	hostID := c.Param("id")
	groups, err := h.svc.ListSourceGroups(c.Request.Context(), hostID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"host_id": hostID, "source_groups": groups})
}
