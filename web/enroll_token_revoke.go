package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// revokeEnrollmentToken makes an unused token unusable.
func (h *handler) revokeEnrollmentToken(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		h.pageFail(c, http.StatusNotFound, "There is no such enrollment token; reload the Enroll page.")
		return
	}
	if err := h.svc.RevokeEnrollmentToken(c.Request.Context(), h.actor(c), id); err != nil {
		h.pageError(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/enroll?revoked=1")
}
