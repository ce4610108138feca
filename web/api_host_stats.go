package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// defaultStatsDays is the window of the host charts and of
// GET /api/v1/hosts/{id}/stats without ?days=.
const defaultStatsDays = 90

// parseStatsDays reads ?days= (1..server.MaxStatsDays, default 90).
func parseStatsDays(s string) (int, error) {
	if s == "" {
		return defaultStatsDays, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > server.MaxStatsDays {
		return 0, invalid("days must be a whole number from 1 to " + strconv.Itoa(server.MaxStatsDays) + ".")
	}
	return n, nil
}

// apiHostStats returns the host's charts (server.HostStats as it is):
// the repository's size over time, every backup that ended in the window
// (data added, duration, restore size, status) and one strip entry per
// day, oldest first.
func (h *handler) apiHostStats(c *gin.Context) {
	days, err := parseStatsDays(c.Query("days"))
	if err != nil {
		h.apiError(c, err)
		return
	}
	st, err := h.svc.HostStats(c.Request.Context(), c.Param("id"), days)
	if err != nil {
		h.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, st)
}
