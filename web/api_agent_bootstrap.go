package web

import (
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
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

// apiAgentBootstrapAnnounce answers POST /api/v1/agents/bootstrap
// (topics.BootstrapRequest, signed by the agent's identity key) as GET
// does, after making the agent's pending client on a broker that keeps its
// own accounts (server.Service.BootstrapPending; nothing with the embedded
// broker).
func (h *handler) apiAgentBootstrapAnnounce(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, topics.MaxEnrollBody+1))
	if err != nil {
		h.apiError(c, invalid("The bootstrap request could not be read; the agent tries again."))
		return
	}
	req, err := topics.DecodeBootstrapRequest(body)
	if err != nil {
		h.apiError(c, invalid(fmt.Sprintf("The bootstrap request is refused (%v); run the agent's announce command again.", err)))
		return
	}
	if err := h.svc.BootstrapPending(c.Request.Context(), req, c.ClientIP()); err != nil {
		h.log.Warn("announce bootstrap refused", "ip", c.ClientIP(), "client", req.Client, "code", server.ErrorCodeOf(err))
		h.apiError(c, err)
		return
	}
	h.apiAgentBootstrap(c)
}
