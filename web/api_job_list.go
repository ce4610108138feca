package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiListJobs returns {"jobs": [...], "next_before": N}: jobs newest first,
// filtered by ?host, ?status and ?kind; ?before=N&limit=M pages (pass
// next_before as before for the next page; 0 when there is none).
func (h *handler) apiListJobs(c *gin.Context) {
	q, err := parseJobListQuery(c.Query)
	if err != nil {
		h.apiError(c, err)
		return
	}
	jobs, err := h.svc.ListJobs(c.Request.Context(), q.filter())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"jobs": jobs, "next_before": q.nextBefore(jobs)})
}
