package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// upgradeAgents is the dashboard's "Upgrade selected" and "Upgrade all
// outdated" (#11): admins ask hosts to replace their agent with the build
// this server serves; the dashboard then says how many were asked.
func (h *handler) upgradeAgents(c *gin.Context) {
	req := server.UpgradeRequest{Outdated: c.PostForm("outdated") == "1"}
	if !req.Outdated {
		req.HostIDs = c.PostFormArray("host_id")
		if len(req.HostIDs) == 0 {
			h.dashboardWithError(c, http.StatusBadRequest, "Tick the hosts to upgrade first, or use Upgrade all outdated.")
			return
		}
	}
	batch, err := h.requestUpgrades(c, req)
	if err != nil {
		h.logIfInternal(c, err)
		h.dashboardWithError(c, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err))
		return
	}
	if len(batch.Requested) == 0 {
		h.dashboardWithError(c, http.StatusConflict, "No host was upgraded: "+skipWords(batch.Skipped))
		return
	}
	c.Redirect(http.StatusSeeOther, "/?upgrades="+itoa(int64(len(batch.Requested)))+"&skipped="+itoa(int64(len(batch.Skipped))))
}

// upgradeHost is the "Upgrade" button of one host (dashboard panel, host page).
func (h *handler) upgradeHost(c *gin.Context) {
	id := c.Param("id")
	batch, err := h.requestUpgrades(c, server.UpgradeRequest{HostIDs: []string{id}})
	switch {
	case err != nil:
		h.logIfInternal(c, err)
		h.hostPageWithError(c, id, statusOf(server.ErrorCodeOf(err)), server.PublicMessage(err), jobForm{})
	case len(batch.Requested) == 0:
		h.hostPageWithError(c, id, http.StatusConflict, "Not upgraded: "+skipWords(batch.Skipped), jobForm{})
	default:
		c.Redirect(http.StatusSeeOther, "/hosts/"+id+"?upgrade=requested")
	}
}

// requestUpgrades asks the domain for req with the builds this server serves.
func (h *handler) requestUpgrades(c *gin.Context, req server.UpgradeRequest) (*server.UpgradeBatch, error) {
	targets, err := h.upgradeTargets()
	if err != nil {
		return nil, &server.Error{Code: server.CodeInternal, Message: "Could not read the agent binaries", Err: err}
	}
	return h.svc.RequestUpgrades(c.Request.Context(), h.actor(c), req, targets)
}

// skipWords says why hosts were skipped, in one sentence.
func skipWords(skipped []server.UpgradeSkip) string {
	if len(skipped) == 0 {
		return "every selected host already runs the served version."
	}
	parts := make([]string, 0, min(len(skipped), 5))
	for i, s := range skipped {
		if i == 5 {
			break
		}
		parts = append(parts, s.Name+": "+s.Reason)
	}
	more := ""
	if len(skipped) > 5 {
		more = "; and " + itoa(int64(len(skipped)-5)) + " more"
	}
	return strings.Join(parts, "; ") + more + "."
}
