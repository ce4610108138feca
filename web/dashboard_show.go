package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// dashboardPage is the data of the fleet dashboard.
type dashboardPage struct {
	page
	Pending  pendingPanel
	Summary  fleetSummary
	Hosts    []hostView
	Filter   hostFilter
	Filtered bool   // a filter hides some hosts
	SelfURL  string // this page with its filter, re-read on fleet changes
	Commands enrollCommands
	// Upgrades is the admins' agent upgrade card (#11).
	Upgrades upgradePanel
	// Fleet actions (#12.5): the tag filter (Tag, one of Tags), the action
	// card for those who may run jobs and, after an action, its result.
	Tag         string
	Tags        []string
	CanRun      bool
	Fleet       fleetPanel
	FleetResult *fleetResultView
}

// showDashboard shows the machines waiting for approval (if any), the
// summary strip and the host table, "needs attention" first. The page then
// follows /events: rows, the summary, new hosts and pending machines arrive
// without a reload.
func (h *handler) showDashboard(c *gin.Context) {
	p, err := h.newDashboardPage(c)
	if err != nil {
		h.pageError(c, err)
		return
	}
	switch {
	case c.Query("accepted") != "":
		p.Notice = "Accepted. The new host is in the list below and goes online once its agent picks up its credentials."
	case c.Query("upgrades") != "":
		p.Notice = "Asked " + c.Query("upgrades") + " host(s) to upgrade their agent (" + c.Query("skipped") + " skipped). Hosts offline now upgrade when they return; each row shows how it goes."
	case c.Query("revoked") != "":
		p.Notice = "Revoked. The host was disconnected, its credentials no longer work, and its name is free again."
	case rejectedMany(c.Query("rejected")) > 1:
		p.Notice = "Rejected " + itoa(rejectedMany(c.Query("rejected"))) + " machines. They were told, and their announcements are refused for the next 24 hours."
	case c.Query("rejected") != "":
		p.Notice = "Rejected. The machine was told, and its announcements are refused for the next 24 hours."
	}
	h.render(c, http.StatusOK, "dashboard", p)
}

// newDashboardPage loads everything the dashboard shows, filtered by the
// request's query string.
func (h *handler) newDashboardPage(c *gin.Context) (dashboardPage, error) {
	ctx := c.Request.Context()
	hosts, err := h.svc.ListHosts(ctx)
	if err != nil {
		return dashboardPage{}, err
	}
	plans, err := h.svc.FleetPlans(ctx)
	if err != nil {
		return dashboardPage{}, err
	}
	pending, err := h.svc.PendingQueue(ctx)
	if err != nil {
		return dashboardPage{}, err
	}
	tags := fleetTags(hosts)
	tag := strings.TrimSpace(c.Query("tag"))
	shown := hosts
	if tag != "" {
		if shown, err = hostsTagged(slices.Clone(hosts), tag); err != nil {
			return dashboardPage{}, err
		}
		tag, _ = server.NormalizeHostTag(tag)
	}
	f := hostFilter{Query: strings.TrimSpace(c.Query("q")), State: c.Query("state")}
	if len(f.Query) > 100 {
		f.Query = f.Query[:100]
	}
	if f.State != "online" && f.State != "offline" {
		f.State = ""
	}
	f.Health = healthFilter(c.Query("health"))
	p := dashboardPage{
		page:     h.basePage(c, "Fleet", "fleet"),
		Summary:  summarize(hosts),
		Hosts:    h.withAgentStatus(ctx, withPlans(hostViews(shown, f), plans)),
		Filter:   f,
		Filtered: f.Query != "" || f.State != "" || f.Health != "" || tag != "",
		SelfURL:  c.Request.URL.RequestURI(),
		Tag:      tag,
		Tags:     tags,
	}
	p.CanRun = p.User != nil && p.User.Role.Allows(server.PermRunJobs)
	p.Fleet = fleetPanel{CSRF: p.CSRF, Tags: tags, Form: fleetForm{Target: "picked", Tag: tag}}
	p.Pending = newPendingPanel(p.page, pending)
	if p.IsAdmin {
		p.Upgrades = newUpgradePanel(p.Hosts, p.CSRF)
	}
	if len(hosts) == 0 {
		p.Commands = h.enrollCommandsFor(h.publicURL(c.Request), "TOKEN")
	}
	return p, nil
}

// rejectedMany is the count a bulk reject sends back in ?rejected=N, or 0.
func rejectedMany(q string) int64 {
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
