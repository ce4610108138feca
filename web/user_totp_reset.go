package web

import "github.com/gin-gonic/gin"

// resetUserTOTP turns a user's two-factor sign-in off (lost phone); audited.
func (h *handler) resetUserTOTP(c *gin.Context) {
	h.userAction(c, "totp_reset", func(id int64) error {
		_, err := h.svc.ResetTOTP(c.Request.Context(), h.actor(c), id)
		return err
	})
}
