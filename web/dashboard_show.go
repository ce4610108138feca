package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// dashboardPage is the data of the fleet dashboard.
type dashboardPage struct {
	page
	Summary  fleetSummary
	Hosts    []hostView
	Filter   hostFilter
	Filtered bool   // a filter hides some hosts
	SelfURL  string // this page with its filter, re-read on fleet changes
	Commands enrollCommands
}

// showDashboard shows the summary strip and the host table, "needs
// attention" first. The page then follows /events: rows, the summary and
// new hosts arrive without a reload.
func (h *handler) showDashboard(c *gin.Context) {
	hosts, err := h.svc.ListHosts(c.Request.Context())
	if err != nil {
		h.pageError(c, err)
		return
	}
	f := hostFilter{Query: strings.TrimSpace(c.Query("q")), State: c.Query("state")}
	if len(f.Query) > 100 {
		f.Query = f.Query[:100]
	}
	if f.State != "online" && f.State != "offline" {
		f.State = ""
	}
	p := dashboardPage{
		page:     h.basePage(c, "Fleet", "fleet"),
		Summary:  summarize(hosts),
		Hosts:    hostViews(hosts, f),
		Filter:   f,
		Filtered: f.Query != "" || f.State != "",
		SelfURL:  c.Request.URL.RequestURI(),
	}
	if len(hosts) == 0 {
		p.Commands = h.enrollCommandsFor(h.publicURL(c.Request), "TOKEN")
	}
	h.render(c, http.StatusOK, "dashboard", p)
}
