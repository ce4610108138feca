package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiShowSourceGroup returns one source group, named by id or name.
func (h *handler) apiShowSourceGroup(c *gin.Context) {
	g, err := h.svc.GetSourceGroup(c.Request.Context(), c.Param("id"), c.Param("group"))
	if err != nil {
		h.apiError(c, err)
		return
	}
	h.sendSourceGroup(c, http.StatusOK, *g)
}
