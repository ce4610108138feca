package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// previewRetention queues a dry run of the retention editor's policy (the
// group form's keep fields; nothing is saved) and answers the preview box,
// which polls until the job ends (HTMX); without HTMX it opens the job.
func (h *handler) previewRetention(c *gin.Context) {
	r, msg := readRetentionForm(c).retention()
	if msg == "" && r.Empty() {
		msg = "Fill in at least one keep rule (e.g. keep daily 7) to preview it."
	}
	var job *server.Job
	if msg == "" {
		var err error
		job, err = h.svc.PreviewRetention(c.Request.Context(), h.actor(c), c.Param("id"), c.Param("group"), r)
		if err != nil {
			_, msg = h.refusal(c, err)
		}
	}
	if !isHTMX(c.Request) {
		if msg != "" {
			h.sourceGroupPageRefused(c, http.StatusBadRequest, msg, func(p *sourceGroupPage) { p.Form.retentionForm = readRetentionForm(c) })
			return
		}
		c.Redirect(http.StatusSeeOther, "/jobs/"+itoa(job.ID))
		return
	}
	// HTMX swaps only 2xx answers: a refusal is a 200 with the sentence.
	if msg != "" {
		h.renderFragment(c, "source_group", "retention_preview", previewView{Error: msg})
		return
	}
	h.renderFragment(c, "source_group", "retention_preview", newPreviewView(*job, nil))
}
