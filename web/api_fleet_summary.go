package web

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// fleetSummaryParams are what GET /api/v1/fleet/summary takes: the host
// list's filter, without its paging.
var fleetSummaryParams = []string{"q", "tag", "state", "health", "os"}

// apiFleetSummaryAnswer is the dashboard's summary strip as JSON: how many
// active hosts there are, connected now or not, and how many are in each
// health state; with a filter, how many hosts it matches.
type apiFleetSummaryAnswer struct {
	Total          int `json:"total"`
	Online         int `json:"online"`
	Offline        int `json:"offline"`
	NeverConnected int `json:"never_connected"`
	// Health has every health state, 0 included.
	Health map[server.HealthState]int `json:"health"`
	// Matching is present when a filter was given.
	Matching *int `json:"matching,omitempty"`
	// Pending counts the machines waiting for approval.
	Pending int `json:"pending"`
}

// apiFleetSummary answers GET /api/v1/fleet/summary: the whole fleet's
// counts (what the dashboard's strip shows, from the live presence, so a
// script waiting for its fleet to come back asks one cheap request instead
// of walking the host list), and with ?q=, ?tag=, ?state=, ?health= or
// ?os= the number of hosts that filter matches.
func (h *handler) apiFleetSummary(c *gin.Context) {
	q := c.Request.URL.Query()
	for k := range q {
		if !slices.Contains(fleetSummaryParams, k) {
			h.apiError(c, invalid(fmt.Sprintf("Unknown parameter %q; the fleet summary takes q, tag, state, health and os.", clip(k, 40))))
			return
		}
	}
	req, err := hostPageRequest(q)
	if err != nil {
		h.apiError(c, err)
		return
	}
	ctx := c.Request.Context()
	counts, err := h.svc.CountFleet(ctx)
	if err != nil {
		h.apiError(c, err)
		return
	}
	pending, err := h.svc.PendingQueue(ctx)
	if err != nil {
		h.apiError(c, err)
		return
	}
	out := apiFleetSummaryAnswer{Total: counts.Total, Online: counts.Online, Offline: counts.Offline,
		NeverConnected: counts.NeverConnected, Health: make(map[server.HealthState]int, len(server.HealthStates)),
		Pending: len(pending.Hosts)}
	for _, s := range server.HealthStates {
		out.Health[s] = counts.Health[s]
	}
	if !req.HostFilter.IsZero() {
		n, err := h.svc.CountHosts(ctx, req.HostFilter)
		if err != nil {
			h.apiError(c, err)
			return
		}
		out.Matching = &n
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}
