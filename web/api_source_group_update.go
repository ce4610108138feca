package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiUpdateSourceGroup replaces a source group (PUT, the same body as
// create: what GET answered can be sent back unchanged); "schedules"
// replaces its backup schedules, and without it they stay as they are.
// One transaction (server.SaveSourceGroup); a PUT that changes nothing
// changes nothing, not even updated_at.
func (h *handler) apiUpdateSourceGroup(c *gin.Context) {
	in, err := decodeSourceGroupRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	g, err := h.svc.SaveSourceGroup(c.Request.Context(), h.actor(c), c.Param("id"), c.Param("group"), in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	h.sendSourceGroup(c, http.StatusOK, *g)
}
