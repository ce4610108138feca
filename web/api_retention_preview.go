package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiPreviewRetention queues a dry-run forget of a group's snapshots with
// the policy in the body ({retention}); answer 201 with the job. Once it
// ends, its summary's would_remove and snapshots_kept say what the policy
// would do now. Nothing is saved or removed.
func (h *handler) apiPreviewRetention(c *gin.Context) {
	policy, err := decodeRetentionPreviewRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	job, err := h.svc.PreviewRetention(c.Request.Context(), h.actor(c), c.Param("id"), c.Param("group"), policy)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Location", "/api/v1/jobs/"+itoa(job.ID))
	c.JSON(http.StatusCreated, job)
}
