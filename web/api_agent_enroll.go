package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// apiEnrollAgent exchanges a single-use enrollment token for a host
// identity. It needs no API token: the enrollment token is the credential.
// limitEnroll already spent one of the address's attempts; a success gives
// it back, so only failures are limited. The answer (topics.EnrollResponse)
// is the agent's identity, where the broker is, its MQTT password (shown
// only here, stored only as a hash) and the CA to pin from now on.
func (h *handler) apiEnrollAgent(c *gin.Context) {
	req, err := decodeAgentEnrollRequest(c.Request.Body)
	if err != nil {
		h.metrics.enrollFailed.Add(1)
		h.apiError(c, err)
		return
	}
	res, err := h.svc.Enroll(c.Request.Context(), server.EnrollRequest{
		Token: req.Token, Hostname: req.Hostname, OS: req.OS, Arch: req.Arch,
		AgentVersion: req.AgentVersion, ResticVersion: req.ResticVersion, RemoteAddr: c.ClientIP(),
	})
	if err != nil {
		h.metrics.enrollFailed.Add(1)
		h.log.Warn("enroll refused", "ip", c.ClientIP(), "code", server.ErrorCodeOf(err))
		h.apiError(c, err)
		return
	}
	h.enrollLimit.refund(c.ClientIP())
	h.metrics.enrollOK.Add(1)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, topics.EnrollResponse{ApprovedCredentials: topics.ApprovedCredentials{
		HostID: res.HostID, HostName: res.HostName, MQTTURL: h.cfg.MQTTURL(c.Request),
		MQTTPassword: res.MQTTPassword, CACert: string(h.cfg.CACertPEM), CAFingerprint: h.cfg.CAFingerprint,
	}})
}
