package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/topics"
)

// setBandwidth saves the Settings tab's host-wide caps (KiB/s, empty: none).
func (h *handler) setBandwidth(c *gin.Context) {
	hostID := c.Param("id")
	up, down := strings.TrimSpace(c.PostForm("up_kbps")), strings.TrimSpace(c.PostForm("down_kbps"))
	keep := func(p *hostPage) { p.BandwidthUp, p.BandwidthDown = up, down }
	var b topics.Bandwidth
	for _, f := range []struct {
		v   string
		dst *int
	}{{up, &b.UpKBps}, {down, &b.DownKBps}} {
		if f.v == "" {
			continue
		}
		n, err := strconv.Atoi(f.v)
		if err != nil {
			h.hostPageRefused(c, hostID, http.StatusBadRequest, "A cap is a whole number of KiB/s, or empty for none; fix it and save again.", keep)
			return
		}
		*f.dst = n
	}
	if err := b.Validate(); err != nil {
		h.hostPageRefused(c, hostID, http.StatusBadRequest, specInvalid(err).Error(), keep)
		return
	}
	if err := h.svc.SetBandwidth(c.Request.Context(), h.actor(c), hostID, b); err != nil {
		status, msg := h.refusal(c, err)
		h.hostPageRefused(c, hostID, status, msg, keep)
		return
	}
	c.Redirect(http.StatusSeeOther, "/hosts/"+hostID+"?saved=1#settings")
}
