package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/topics"
)

// apiAgentBootstrap answers GET /api/v1/agents/bootstrap with what an agent
// without a token needs to announce itself (DESIGN §4.2,
// topics.BootstrapResponse): where the broker is and the CA to pin. It is
// public: an announcing agent has no credential yet, and none of it is
// secret (/ca.pem serves the same certificate). The broker URL uses the
// host name the agent reached this server under, as for token enrollment.
func (h *handler) apiAgentBootstrap(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, topics.BootstrapResponse{
		MQTTURL: h.cfg.MQTTURL(c.Request), CACert: string(h.cfg.CACertPEM), CAFingerprint: h.cfg.CAFingerprint,
	})
}
