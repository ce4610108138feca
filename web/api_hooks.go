package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// apiHostHooks is the answer of GET and PUT /api/v1/hosts/{id}/hooks: the
// host's default hooks (the bodies for admins only).
type apiHostHooks struct {
	HostID string `json:"host_id"`
	server.HookSet
}

// apiShowHostHooks returns the host's default hooks; readers who are not
// admins learn only whether each is set.
func (h *handler) apiShowHostHooks(c *gin.Context) {
	hostID := c.Param("id")
	set, err := h.svc.GetHostHooks(c.Request.Context(), h.actor(c), hostID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, apiHostHooks{HostID: hostID, HookSet: *set})
}

// apiSetHostHooks changes the host's default hooks (admin only): a body
// sets a hook, "" or null clears it, an absent field keeps it.
func (h *handler) apiSetHostHooks(c *gin.Context) {
	in, err := decodeHooksRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	hostID := c.Param("id")
	set, err := h.svc.SetHostHooks(c.Request.Context(), h.actor(c), hostID, in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, apiHostHooks{HostID: hostID, HookSet: *set})
}

// sendSourceGroup answers with one group; its hook bodies are in it when
// the caller may read them (the domain decides: admins only).
func (h *handler) sendSourceGroup(c *gin.Context, status int, g server.SourceGroup) {
	set, err := h.svc.SourceGroupHooks(c.Request.Context(), h.actor(c), g.HostID, g.Key)
	if err != nil {
		h.apiError(c, err)
		return
	}
	g.HookSet = *set
	c.Header("Cache-Control", "no-store")
	c.JSON(status, g)
}
