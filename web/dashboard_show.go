package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// dashboardPage is the data of the fleet dashboard.
type dashboardPage struct {
	page
	Pending pendingPanel
	Summary fleetSummary
	// Hosts is one page of the fleet (#15) in (name, id) order, chosen
	// by Filter; Matching counts every host the filter chooses.
	Hosts               []hostView
	FirstName, LastName string // of the page's first and last host
	Filter              server.HostFilter
	Filtered            bool // a filter hides some hosts
	Matching            int
	Limit               int // the page size asked for; 0: the default
	// FirstURL and NextURL are the first and the next page with the same
	// filter ("" when there is none to go to).
	FirstURL, NextURL string
	SelfURL           string // this page with its filter, re-read on fleet changes
	Commands          enrollCommands
	// Upgrades is the admins' agent upgrade card (#11), for the hosts of
	// this page.
	Upgrades upgradePanel
	// Fleet actions (#12.5): the fleet's tags, the action card for those
	// who may run jobs and, after an action, its result.
	Tags        []string
	CanRun      bool
	Fleet       fleetPanel
	FleetResult *fleetResultView
}

// dashboardNotices are the query parameters the dashboard reads besides
// the host list's: what a redirect to it just did.
var dashboardNotices = []string{"accepted", "upgrades", "skipped", "revoked", "rejected"}

// showDashboard shows the machines waiting for approval (if any), the
// summary strip and one page of the host table (#15: filtered, by name,
// the filter in the URL so a link shares it). The page then follows /events: rows, the summary, new hosts and pending machines arrive
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
	status := http.StatusOK
	if p.Error != "" {
		status = http.StatusBadRequest // a malformed filter: the page says what to fix
	}
	h.render(c, status, "dashboard", p)
}

// newDashboardPage loads everything the dashboard shows: the summary of
// the whole fleet, and one page of hosts chosen by the request's query
// string (fleet_filter.go). A malformed filter shows the first page of
// every host with the sentence that says what to fix.
func (h *handler) newDashboardPage(c *gin.Context) (dashboardPage, error) {
	ctx := c.Request.Context()
	p := dashboardPage{page: h.basePage(c, "Fleet", "fleet"), SelfURL: c.Request.URL.RequestURI()}
	req, err := hostPageRequest(c.Request.URL.Query(), dashboardNotices...)
	if err != nil {
		if server.ErrorCodeOf(err) != server.CodeInvalid {
			return p, err
		}
		p.Error, p.SelfURL, req = server.PublicMessage(err), "/", server.HostPageRequest{}
	}
	list, err := h.svc.ListHostsPage(ctx, req)
	if err != nil {
		return p, err
	}
	counts, err := h.svc.CountFleet(ctx)
	if err != nil {
		return p, err
	}
	if p.Tags, err = h.svc.FleetTags(ctx); err != nil {
		return p, err
	}
	ids := make([]string, len(list.Hosts))
	for i := range list.Hosts {
		ids[i] = list.Hosts[i].ID
	}
	plans, err := h.svc.HostPlans(ctx, ids)
	if err != nil {
		return p, err
	}
	pending, err := h.svc.PendingQueue(ctx)
	if err != nil {
		return p, err
	}
	p.Summary, p.Filter, p.Filtered, p.Limit = newFleetSummary(counts), req.HostFilter, !req.HostFilter.IsZero(), req.Limit
	p.Matching = counts.Total
	if p.Filtered {
		if p.Matching, err = h.svc.CountHosts(ctx, req.HostFilter); err != nil {
			return p, err
		}
	}
	p.Hosts = h.withAgentStatus(ctx, withPlans(hostViews(list.Hosts), plans))
	if n := len(p.Hosts); n > 0 {
		p.FirstName, p.LastName = p.Hosts[0].Name, p.Hosts[n-1].Name
	}
	q := filterQuery(req.HostFilter, req.Limit)
	if req.Cursor != "" {
		p.FirstURL = "/?" + q.Encode()
	}
	if list.NextCursor != nil {
		q.Set("cursor", *list.NextCursor)
		p.NextURL = "/?" + q.Encode()
	}
	p.CanRun = p.User != nil && p.User.Role.Allows(server.PermRunJobs)
	p.Fleet = fleetPanel{CSRF: p.CSRF, Tags: p.Tags, Form: fleetForm{Target: "picked", Tag: req.Tag}}
	p.Pending = newPendingPanel(p.page, pending)
	if p.IsAdmin {
		p.Upgrades = newUpgradePanel(p.Hosts, p.CSRF)
	}
	if counts.Total == 0 {
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
