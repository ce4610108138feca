package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// enrollmentTokenResponse is what POST /api/v1/enrollment-tokens returns.
// The token appears here once; the server keeps only its hash.
type enrollmentTokenResponse struct {
	ID             int64     `json:"id"`
	HostName       string    `json:"host_name"`
	Token          string    `json:"token"`
	ExpiresAt      time.Time `json:"expires_at"`
	InstallCommand string    `json:"install_command"`
	// InstallCommandWindows is the PowerShell one-liner; empty when the
	// server does not serve install.ps1.
	InstallCommandWindows string `json:"install_command_windows,omitempty"`
	EnrollCommand         string `json:"enroll_command"`
	EnrollCommandWindows  string `json:"enroll_command_windows"`
	CAFingerprint         string `json:"ca_fingerprint"`
}

// apiCreateEnrollmentToken makes a single-use enrollment token.
func (h *handler) apiCreateEnrollmentToken(c *gin.Context) {
	req, err := decodeEnrollmentTokenRequest(c.Request.Body)
	if err != nil {
		h.apiError(c, err)
		return
	}
	token, t, err := h.svc.CreateEnrollmentToken(c.Request.Context(), h.actor(c), req.HostName, time.Duration(req.TTL))
	if err != nil {
		h.apiError(c, err)
		return
	}
	cmd := h.enrollCommandsFor(h.publicURL(c.Request), token)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, enrollmentTokenResponse{
		ID: t.ID, HostName: t.HostName, Token: token, ExpiresAt: t.ExpiresAt.UTC(),
		InstallCommand: cmd.primary(), InstallCommandWindows: cmd.InstallPowerShell, EnrollCommand: cmd.Shell, EnrollCommandWindows: cmd.PowerShell,
		CAFingerprint: h.cfg.CAFingerprint,
	})
}
