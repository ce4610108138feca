package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// setRepository saves the repository form: the domain stores it encrypted,
// sends it to the agent and queues an init job, whose state the page shows.
func (h *handler) setRepository(c *gin.Context) {
	form := newRepositoryForm(c, "")
	req, msg := form.request()
	if msg != "" {
		h.repositoryPageWithError(c, http.StatusBadRequest, msg, form.refillURL())
		return
	}
	hostID := c.Param("id")
	job, err := h.svc.SetRepository(c.Request.Context(), h.actor(c), hostID, req.input())
	if err != nil {
		h.logIfInternal(c, err)
		h.repositoryPageWithError(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err), form.refillURL())
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"/repository?init="+itoa(job.ID))
}
