package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// setHostTags saves the host page's tags field (#12.5): tags separated by
// commas or spaces, the whole list (empty removes every tag).
func (h *handler) setHostTags(c *gin.Context) {
	hostID := c.Param("id")
	typed := strings.TrimSpace(c.PostForm("tags"))
	tags := splitTags(typed)
	if _, err := h.svc.SetHostTags(c.Request.Context(), h.actor(c), hostID, tags); err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, func(p *hostPage) { p.TagsTyped = typed })
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#tags")
}
