package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// setRequireTOTP turns "admins must use two-factor sign-in" on or off.
func (h *handler) setRequireTOTP(c *gin.Context) {
	on := c.PostForm("require") == "1"
	if err := h.svc.SetRequireTOTPForAdmins(c.Request.Context(), h.actor(c), on); err != nil {
		h.pageError(c, err)
		return
	}
	done := "totp_off"
	if on {
		done = "totp_on"
	}
	c.Redirect(http.StatusSeeOther, "/admin/users?done="+done)
}
