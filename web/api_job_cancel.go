package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// apiCancelJob asks for a job to stop: a queued one is canceled at once, a
// running one when the agent has stopped restic. Answer: the job.
func (h *handler) apiCancelJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such job; list jobs with GET /api/v1/jobs.")
		return
	}
	job, err := h.svc.CancelJob(c.Request.Context(), h.actor(c), id)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, job)
}
