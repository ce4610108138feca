package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// showHealth answers load balancers and uptime checks without auth. It says
// the process serves HTTP; it deliberately reveals nothing about the fleet.
func (h *handler) showHealth(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok", "version": h.cfg.Version})
}
