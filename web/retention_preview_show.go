package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// showRetentionPreview answers the preview box of a retention preview job
// (polled by the group page until the job ends): "would remove N
// snapshots: <ids with times>, keep M".
func (h *handler) showRetentionPreview(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		h.pageFail(c, http.StatusNotFound, "That is not a job number; open the job from the jobs page.")
		return
	}
	ctx := c.Request.Context()
	job, err := h.svc.GetJob(ctx, id)
	if err != nil {
		h.pageError(c, err)
		return
	}
	if !isPreview(*job) {
		h.pageFail(c, http.StatusNotFound, "That job is not a retention preview; open it from the jobs page.")
		return
	}
	snaps, err := h.svc.Snapshots(ctx, job.HostID)
	if err != nil {
		h.pageError(c, err)
		return
	}
	h.renderFragment(c, "source_group", "retention_preview", newPreviewView(*job, snaps))
}
