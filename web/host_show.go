package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// hostPage is the data of a host's page.
type hostPage struct {
	page
	Host hostView
}

// showHost shows one host's vitals, kept live over /events?host=ID.
func (h *handler) showHost(c *gin.Context) {
	host, err := h.svc.GetHost(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.pageError(c, err)
		return
	}
	p := hostPage{page: h.basePage(c, host.Name, "fleet"), Host: newHostView(*host)}
	h.render(c, http.StatusOK, "host", p)
}
