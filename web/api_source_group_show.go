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
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, newAPISourceGroup(*g))
}
