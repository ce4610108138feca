package web

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// Host health thresholds (#13): a host's own (PUT
// /api/v1/hosts/{id}/alerting, the "alerting" object of GET
// /api/v1/hosts/{id}) and the fleet's (GET and PUT
// /api/v1/settings/alerting). The health itself is part of every host the
// API answers (server.HostHealth).

// decodeHostAlerting reads {"overdue_after_seconds": null|N,
// "offline_alert_after_seconds": null|N}; both fields must be there (null
// goes back to the default), so a typo cannot reset a threshold.
func decodeHostAlerting(r io.Reader) (server.HostAlerting, error) {
	var raw map[string]*int64
	if err := decodeStrictJSON(r, &raw); err != nil {
		return server.HostAlerting{}, err
	}
	in := server.HostAlerting{}
	for k := range raw {
		if k != "overdue_after_seconds" && k != "offline_alert_after_seconds" {
			return in, invalid("Field " + clip(k, 60) + ` is not known here; send {"overdue_after_seconds": null or seconds, "offline_alert_after_seconds": null or seconds}.`)
		}
	}
	o, ok1 := raw["overdue_after_seconds"]
	f, ok2 := raw["offline_alert_after_seconds"]
	if !ok1 || !ok2 {
		return in, invalid(`Send both thresholds: {"overdue_after_seconds": null or seconds, "offline_alert_after_seconds": null or seconds} (null is the default).`)
	}
	in.OverdueAfterSeconds, in.OfflineAlertAfterSeconds = o, f
	return in, nil
}

// apiSetHostAlerting sets a host's own thresholds and answers the host as
// GET /api/v1/hosts/{id} lists it, with its health under the new ones.
func (h *handler) apiSetHostAlerting(c *gin.Context) {
	in, err := decodeHostAlerting(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	host, err := h.svc.SetHostAlerting(c.Request.Context(), h.actor(c), c.Param("id"), in)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, host)
}

// apiShowAlertingSettings answers the fleet's thresholds.
func (h *handler) apiShowAlertingSettings(c *gin.Context) {
	g, err := h.svc.AlertingSettings(c.Request.Context())
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, g)
}

// apiSetAlertingSettings replaces the fleet's thresholds (admins).
func (h *handler) apiSetAlertingSettings(c *gin.Context) {
	var in struct {
		OverdueAfterSeconds      *int64 `json:"overdue_after_seconds"`
		OfflineAlertAfterSeconds *int64 `json:"offline_alert_after_seconds"`
	}
	if err := decodeStrictJSON(c.Request.Body, &in); err != nil {
		h.apiError(c, err)
		return
	}
	if in.OverdueAfterSeconds == nil || in.OfflineAlertAfterSeconds == nil {
		h.apiError(c, invalid(`Send both thresholds in seconds: {"overdue_after_seconds": 93600, "offline_alert_after_seconds": 86400}.`))
		return
	}
	g, err := h.svc.SetAlertingSettings(c.Request.Context(), h.actor(c),
		server.AlertingSettings{OverdueAfterSeconds: *in.OverdueAfterSeconds, OfflineAlertAfterSeconds: *in.OfflineAlertAfterSeconds})
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, g)
}
