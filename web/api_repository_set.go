package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiSetRepository sets a host's repository (PUT, body {url, password,
// env}); the domain stores it encrypted, sends it to the agent and queues
// an init job. Answer: {init_job_id, job, repository} — never a secret.
func (h *handler) apiSetRepository(c *gin.Context) {
	req, err := decodeRepositoryRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ctx := c.Request.Context()
	hostID := c.Param("id")
	job, err := h.svc.SetRepository(ctx, h.actor(c), hostID, req.input())
	if err != nil {
		h.apiError(c, err)
		return
	}
	repo, err := h.svc.GetRepository(ctx, hostID)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"init_job_id": job.ID, "job": job, "repository": repo})
}
