package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// createHostJob runs a job from one of the host page's forms (Back up now,
// Restore, maintenance, Refresh list) and opens the job's page to watch it;
// Refresh list goes back to the snapshot list instead. A refused form shows
// the host page again with the reason and what was typed.
func (h *handler) createHostJob(c *gin.Context) {
	hostID := c.Param("id")
	form := newJobForm(c)
	spec, msg := form.spec()
	if msg != "" {
		h.hostPageWithError(c, hostID, http.StatusBadRequest, msg, form)
		return
	}
	job, err := h.svc.CreateJob(c.Request.Context(), h.actor(c), hostID, server.JobRequest{Spec: spec, SourceGroup: form.SourceGroup})
	if err != nil {
		h.logIfInternal(c, err)
		h.hostPageWithError(c, hostID, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err), form)
		return
	}
	if spec.Kind == topics.JobSnapshots {
		c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?queued="+itoa(job.ID)+"#snapshots")
		return
	}
	c.Redirect(http.StatusSeeOther, "/jobs/"+itoa(job.ID))
}

// hostPageWithError shows the host page with one sentence about what went
// wrong and the refused form's values.
func (h *handler) hostPageWithError(c *gin.Context, hostID string, status int, message string, form jobForm) {
	h.hostPageRefused(c, hostID, status, message, func(p *hostPage) {
		if form.Kind != "" {
			p.Form = form
		}
	})
}

// hostPageRefused shows the host page with one sentence about what went
// wrong; keep puts the refused form's values back.
func (h *handler) hostPageRefused(c *gin.Context, hostID string, status int, message string, keep func(*hostPage)) {
	p, err := h.newHostPage(c, hostID)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Error = message
	keep(&p)
	h.render(c, status, "host", p)
}

// refusal is the status and sentence a domain error is shown with.
func (h *handler) refusal(c *gin.Context, err error) (int, string) {
	h.logIfInternal(c, err)
	return statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err)
}
