package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// apiUpgradeAgents is POST /api/v1/agents/upgrade (#11) with
// {"host_ids": [...]} or {"outdated": true}: answer the upgrades stored
// (sent at once to the hosts online, after their next hello to the others)
// and the hosts skipped with why.
func (h *handler) apiUpgradeAgents(c *gin.Context) {
	var req server.UpgradeRequest
	if err := decodeStrictJSON(c.Request.Body, &req); err != nil {
		h.apiError(c, err)
		return
	}
	batch, err := h.requestUpgrades(c, req)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, batch)
}

// apiUpgradeHost is POST /api/v1/hosts/:id/upgrade: answer the stored
// upgrade, or 409 saying why the host is not upgraded (already current,
// no build for its platform).
func (h *handler) apiUpgradeHost(c *gin.Context) {
	batch, err := h.requestUpgrades(c, server.UpgradeRequest{HostIDs: []string{c.Param("id")}})
	if err != nil {
		h.apiError(c, err)
		return
	}
	if len(batch.Requested) == 0 {
		h.apiFail(c, http.StatusConflict, server.CodeConflict, "Not upgraded: "+skipWords(batch.Skipped))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, batch.Requested[0])
}

// agentUpgradeStatus is the answer of GET /api/v1/hosts/:id/upgrade.
type agentUpgradeStatus struct {
	HostID        string               `json:"host_id"`
	AgentVersion  string               `json:"agent_version"`
	ServedVersion string               `json:"served_version"`
	Outdated      bool                 `json:"outdated"`
	Upgrade       *server.AgentUpgrade `json:"upgrade"`
}

// apiShowUpgrade is GET /api/v1/hosts/:id/upgrade: the host's agent against
// the served build, and its latest upgrade (null when none was asked).
func (h *handler) apiShowUpgrade(c *gin.Context) {
	host, err := h.svc.GetHost(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.apiError(c, err)
		return
	}
	v := h.withAgentStatus(c.Request.Context(), []hostView{newHostView(*host)})[0]
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, agentUpgradeStatus{HostID: host.ID, AgentVersion: host.AgentVersion, ServedVersion: v.Agent.Served,
		Outdated: v.Agent.Outdated, Upgrade: v.Agent.Upgrade})
}
