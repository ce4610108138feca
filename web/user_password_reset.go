package web

import (
	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// resetUserPassword sets a new password for a user and ends their sessions.
func (h *handler) resetUserPassword(c *gin.Context) {
	form := newPasswordForm(c)
	h.userAction(c, "password", func(id int64) error {
		if msg := form.validate(false); msg != "" {
			return &server.Error{Code: server.CodeInvalid, Message: msg}
		}
		_, err := h.svc.ResetPassword(c.Request.Context(), h.actor(c), id, form.Password)
		return err
	})
}
