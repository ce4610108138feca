package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// apiAcceptPendingHost turns a waiting machine into a host: body {name,
// repository?: {url, password, env}}, answer {host_id, name} and, with a
// repository, init_job_id. The credentials go to the agent sealed to its
// key, never through this API; the repository is never sent back.
func (h *handler) apiAcceptPendingHost(c *gin.Context) {
	id, ok := pendingID(c)
	if !ok {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such machine waiting; list them with GET /api/v1/pending-hosts.")
		return
	}
	req, err := decodePendingAcceptRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ctx := c.Request.Context()
	hostID, err := h.svc.AcceptPendingHost(ctx, h.actor(c), id, req.Name, req.repository())
	if err != nil {
		h.apiError(c, err)
		return
	}
	out := gin.H{"host_id": hostID, "name": req.Name}
	if req.Repository != nil {
		if repo, err := h.svc.GetRepository(ctx, hostID); err == nil {
			out["init_job_id"] = repo.InitJobID
		} else {
			h.logIfInternal(c, err)
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}
