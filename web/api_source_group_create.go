package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// apiCreateSourceGroup creates a source group (body: the group in the
// shape GET answers with, and optionally its "schedules"); answer 201
// with the group as stored. The group and its schedules are stored in one
// transaction (server.SaveSourceGroup): bad input is refused with one
// sentence and nothing is stored.
func (h *handler) apiCreateSourceGroup(c *gin.Context) {
	in, err := decodeSourceGroupRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	hostID := c.Param("id")
	g, err := h.svc.SaveSourceGroup(c.Request.Context(), h.actor(c), hostID, "", in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Location", "/api/v1/hosts/"+hostID+"/source-groups/"+strconv.FormatInt(g.ID, 10))
	h.sendSourceGroup(c, http.StatusCreated, *g)
}
