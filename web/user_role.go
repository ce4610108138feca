package web

import (
	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// setUserRole changes a user's role; the last enabled admin keeps theirs.
func (h *handler) setUserRole(c *gin.Context) {
	h.userAction(c, "role", func(id int64) error {
		role, err := server.ParseRole(c.PostForm("role"))
		if err != nil {
			return err
		}
		_, err = h.svc.SetUserRole(c.Request.Context(), h.actor(c), id, role)
		return err
	})
}
