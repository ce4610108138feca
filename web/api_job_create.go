package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiCreateJob queues a job on a host: body {kind, ...options of that
// kind, expires_in}; answer 201 {id, ...job}. Bad input is refused with
// one sentence and nothing is queued.
func (h *handler) apiCreateJob(c *gin.Context) {
	req, err := decodeJobCreateRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	job, err := h.svc.CreateJob(c.Request.Context(), h.actor(c), c.Param("id"), req.request())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Location", "/api/v1/jobs/"+itoa(job.ID))
	c.JSON(http.StatusCreated, job)
}
