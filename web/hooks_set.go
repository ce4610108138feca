package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// setHostHooks saves the host's default hooks from the repository page's
// Hooks form (admins only); a refused form comes back with its values.
func (h *handler) setHostHooks(c *gin.Context) {
	hostID := c.Param("id")
	form := readHookForm(c)
	in, msg := form.input()
	status := http.StatusBadRequest
	if msg == "" {
		_, err := h.svc.SetHostHooks(c.Request.Context(), h.actor(c), hostID, in)
		if err == nil {
			c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"/repository?hooks=saved#hooks")
			return
		}
		status, msg = h.refusal(c, err)
	}
	p, err := h.newRepositoryPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	p.Error, p.Hooks = msg, form.keepStatus(p.Hooks)
	h.render(c, status, "repository", p)
}
