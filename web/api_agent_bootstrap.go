package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// agentBootstrapResponse is what an agent without a token needs to announce
// itself (DESIGN §4.2): where the broker is and the CA to pin. None of it is
// secret; /ca.pem serves the same certificate.
type agentBootstrapResponse struct {
	MQTTURL       string `json:"mqtt_url"`
	CACert        string `json:"ca_cert"`
	CAFingerprint string `json:"ca_fingerprint"`
}

// apiAgentBootstrap answers GET /api/v1/agents/bootstrap. It is public: an
// announcing agent has no credential yet. The broker URL uses the host name
// the agent reached this server under, as for token enrollment.
func (h *handler) apiAgentBootstrap(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, agentBootstrapResponse{
		MQTTURL: h.cfg.MQTTURL(c.Request), CACert: string(h.cfg.CACertPEM), CAFingerprint: h.cfg.CAFingerprint,
	})
}
