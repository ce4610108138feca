package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// reinitRepository is the repository page's danger zone: with the host's
// name typed out, a fresh init job is queued (restic refuses to init over
// an existing repository, so nothing is ever wiped) and its page opens.
func (h *handler) reinitRepository(c *gin.Context) {
	job, err := h.svc.ReinitRepository(c.Request.Context(), h.actor(c), c.Param("id"), c.PostForm("confirm_name"))
	if err != nil {
		h.logIfInternal(c, err)
		h.repositoryPageWithError(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err), "")
		return
	}
	c.Redirect(http.StatusSeeOther, "/jobs/"+itoa(job.ID))
}
