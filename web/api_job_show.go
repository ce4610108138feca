package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// apiShowJob returns one job; while it runs, "progress" holds its latest
// live progress.
func (h *handler) apiShowJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		h.apiFail(c, http.StatusNotFound, server.CodeNotFound, "There is no such job; list jobs with GET /api/v1/jobs.")
		return
	}
	job, err := h.svc.GetJob(c.Request.Context(), id)
	if err != nil {
		h.apiError(c, err)
		return
	}
	out := struct {
		*server.Job
		Progress any `json:"progress,omitempty"`
	}{Job: job}
	if !job.Status.Terminal() {
		if p, ok := h.svc.JobProgress(id); ok {
			out.Progress = newAPIProgress(p)
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}
