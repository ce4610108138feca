package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// The monitor feed's settings (#13): Home Assistant MQTT discovery on or
// off. GET and PUT /api/v1/settings/monitor (admins) answer and take
// server.MonitorSettings; the users page has a card with the same switch.

// apiShowMonitorSettings answers the monitor feed's settings.
func (h *handler) apiShowMonitorSettings(c *gin.Context) {
	m, err := h.svc.MonitorSettings(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, m)
}

// apiSetMonitorSettings turns discovery on or off; ha_prefix may be left
// out or repeat the fixed prefix GET answered.
func (h *handler) apiSetMonitorSettings(c *gin.Context) {
	var in struct {
		HADiscovery *bool  `json:"ha_discovery"`
		HAPrefix    string `json:"ha_prefix"`
	}
	if err := decodeStrictJSON(c.Request.Body, &in); err != nil {
		h.apiError(c, err)
		return
	}
	if in.HADiscovery == nil {
		h.apiError(c, invalid(`Say whether Home Assistant discovery is on: {"ha_discovery": true} or false.`))
		return
	}
	m, err := h.svc.SetMonitorSettings(c.Request.Context(), h.actor(c), server.MonitorSettings{HADiscovery: *in.HADiscovery, HAPrefix: in.HAPrefix})
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, m)
}

// setMonitorSettings is the users page's Home Assistant card.
func (h *handler) setMonitorSettings(c *gin.Context) {
	on := c.PostForm("ha_discovery") == "1"
	if _, err := h.svc.SetMonitorSettings(c.Request.Context(), h.actor(c), server.MonitorSettings{HADiscovery: on}); err != nil {
		h.pageError(c, err)
		return
	}
	done := "ha_off"
	if on {
		done = "ha_on"
	}
	c.Redirect(http.StatusSeeOther, "/admin/users?done="+done)
}
