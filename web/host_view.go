package web

import (
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// hostState is a host's one clear state: a tone for the colour and a word,
// never colour alone (UX.md). Since, when set, is shown after the word as a
// relative time ("offline since 3 h ago").
type hostState struct {
	Tone  string // ok, idle, warn: picks the badge colour (see app.css)
	Word  string // online, offline, never connected
	Lead  string // text before Since, e.g. "since"
	Since *time.Time
}

// hostView is a host as the pages show it.
type hostView struct {
	server.Host
	State hostState
	// Plan is the host's next and last backup and config status (nil
	// where a page does not show them).
	Plan *server.HostPlan
	// Agent is the host's agent against the served build (#11,
	// upgrade_view.go); empty where a page does not show it.
	Agent agentStatus
}

// Times is the row's "Next:" and "Last:".
func (v hostView) Times() runTimes { return planTimes(v.Plan) }

// ConfigPending reports whether the agent has not applied the newest
// config ("config pending — offline since …").
func (v hostView) ConfigPending() bool { return v.Plan != nil && v.Plan.Config.Pending }

// withPlans attaches each host's plan (one plans read per page).
func withPlans(views []hostView, plans map[string]server.HostPlan) []hostView {
	for i := range views {
		if p, ok := plans[views[i].ID]; ok {
			views[i].Plan = &p
		}
	}
	return views
}

// hostViews turns one page of hosts into rows, in the page's (name, id)
// order: the order pages are cut in (#15; the health strip and the
// filters find the hosts that need a look).
func hostViews(hosts []server.Host) []hostView {
	out := make([]hostView, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, newHostView(h))
	}
	return out
}

func newHostView(h server.Host) hostView {
	v := hostView{Host: h}
	switch {
	case h.Online:
		v.State = hostState{Tone: "ok", Word: "online", Lead: "since", Since: h.ConnectedAt}
	case h.LastSeen != nil:
		v.State = hostState{Tone: "idle", Word: "offline", Lead: "since", Since: h.LastSeen}
	default:
		created := h.CreatedAt
		v.State = hostState{Tone: "warn", Word: "never connected", Lead: "enrolled", Since: &created}
	}
	return v
}

// Platform is "linux/amd64", or a dash when the agent has not said yet.
func (v hostView) Platform() string {
	if v.OS == "" && v.Arch == "" {
		return "—"
	}
	return v.OS + "/" + v.Arch
}

// fleetSummary is the strip at the top of the dashboard: the whole
// fleet, counted by the domain (server.CountFleet), not the page shown.
type fleetSummary struct {
	Total, Online, Offline, NeverConnected int
	// Health counts the hosts per health state (#13); the strip links
	// each count to the dashboard filtered by it.
	Health healthCounts
}

func newFleetSummary(c server.FleetCounts) fleetSummary {
	return fleetSummary{Total: c.Total, Online: c.Online, Offline: c.Offline, NeverConnected: c.NeverConnected,
		Health: healthCounts{OK: c.Health[server.HealthOK], Overdue: c.Health[server.HealthOverdue], Failing: c.Health[server.HealthFailing],
			Offline: c.Health[server.HealthOffline], Pending: c.Health[server.HealthPending]}}
}

// relativeTime says how long ago (or how far ahead) t is, in the short form
// the dashboard uses everywhere: "just now", "5 min ago", "3 h ago",
// "2 days ago", and for a time ahead "in under 1 min", "in 40 min". Both
// directions round alike; only the words around the amount differ.
// static/app.js has the same rules so that times keep ageing in the browser
// without a reload.
func relativeTime(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second && future:
		return "in under 1 min" // a run about to start: "just now" would say it happened
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Minute:
		s = fmt.Sprintf("%d min", max(1, int((d+30*time.Second)/time.Minute)))
	case d < 36*time.Hour:
		s = fmt.Sprintf("%d h", int((d+30*time.Minute)/time.Hour))
	case d < 365*24*time.Hour:
		s = plural(int((d+12*time.Hour)/(24*time.Hour)), "day")
	default:
		s = plural(int(d/(365*24*time.Hour)), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
