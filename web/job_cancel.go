package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// cancelJob is the job page's Cancel button: a queued job is canceled at
// once, a running one when the agent has stopped restic; the page follows.
func (h *handler) cancelJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok {
		h.pageFail(c, http.StatusNotFound, "There is no such job; open it from the jobs page.")
		return
	}
	if _, err := h.svc.CancelJob(c.Request.Context(), h.actor(c), id); err != nil {
		h.logIfInternal(c, err)
		p, perr := h.newJobPage(c)
		if perr != nil {
			h.pageError(c, err)
			return
		}
		p.Error = server.PublicMessage(err)
		h.render(c, statusOf(server.ErrorCodeOf(err)), "job", p)
		return
	}
	c.Redirect(http.StatusSeeOther, "/jobs/"+itoa(id)+"?canceled=1")
}
