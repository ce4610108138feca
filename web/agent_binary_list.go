package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// listAgentBinaries answers GET /agent/binaries: {"binaries": [...]}, every
// agent build this server hands out with its version, SHA-256 and size.
// install.sh checks a download against this list as well as against the
// download's own header. Public: the binaries hold no secret.
func (h *handler) listAgentBinaries(c *gin.Context) {
	bins := []AgentBinary{}
	if h.cfg.AgentBinaries != nil {
		list, err := h.cfg.AgentBinaries.List()
		if err != nil {
			h.apiError(c, err)
			return
		}
		bins = append(bins, list...)
	}
	c.Header("Cache-Control", "no-cache")
	c.JSON(http.StatusOK, gin.H{"binaries": bins})
}
