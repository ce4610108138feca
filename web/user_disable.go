package web

import "github.com/gin-gonic/gin"

// disableUser stops a user: sessions end, API tokens stop, open pages close.
func (h *handler) disableUser(c *gin.Context) {
	h.userAction(c, "disabled", func(id int64) error {
		_, err := h.svc.DisableUser(c.Request.Context(), h.actor(c), id)
		return err
	})
}

// enableUser lets a disabled user back in.
func (h *handler) enableUser(c *gin.Context) {
	h.userAction(c, "enabled", func(id int64) error {
		_, err := h.svc.EnableUser(c.Request.Context(), h.actor(c), id)
		return err
	})
}
