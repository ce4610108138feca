package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// acceptPendingHost turns a waiting machine into a host with the name (and,
// optionally, the repository) from the panel's form, then goes back to the
// dashboard. The repository fields are never filled in again. A refusal (bad or taken
// name, a machine decided on meanwhile) shows the dashboard with the reason.
func (h *handler) acceptPendingHost(c *gin.Context) {
	id, ok := pendingID(c)
	if !ok {
		h.pageFail(c, http.StatusNotFound, "There is no such machine waiting; reload the dashboard.")
		return
	}
	form := newAcceptForm(c)
	repo, msg := form.validate()
	if msg != "" {
		h.dashboardWithError(c, http.StatusBadRequest, msg)
		return
	}
	if _, err := h.svc.AcceptPendingHost(c.Request.Context(), h.actor(c), id, form.Name, repo); err != nil {
		h.logIfInternal(c, err)
		h.dashboardWithError(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/?accepted=1")
}

// pendingID is the :id of a pending-host route.
func pendingID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	return id, err == nil && id > 0
}

// dashboardWithError shows the dashboard with one sentence about what went
// wrong, for a form on it that was refused.
func (h *handler) dashboardWithError(c *gin.Context, status int, message string) {
	p, err := h.newDashboardPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Error = message
	p.SelfURL = "/" // this request was a POST; the page re-reads the plain dashboard
	h.render(c, status, "dashboard", p)
}
