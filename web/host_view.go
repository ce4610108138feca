package web

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
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
	// Attention orders the table: hosts that need a look come first.
	Attention int
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

// withPlans attaches each host's plan (one FleetPlans call per page).
func withPlans(views []hostView, plans map[string]server.HostPlan) []hostView {
	for i := range views {
		if p, ok := plans[views[i].ID]; ok {
			views[i].Plan = &p
			views[i].Attention = planAttention(views[i].Attention, p)
		}
		if h := views[i].Health; h == server.HealthOverdue || h == server.HealthOffline { // #13: before hosts that are fine
			views[i].Attention = min(views[i].Attention, 0)
		}
	}
	sortByAttention(views)
	return views
}

// planAttention refines a host's place in the "needs attention" order with
// its backups and config: a failed last backup comes before everything, an
// incomplete one (warning) and a config the agent has not applied come
// before hosts that are simply fine.
func planAttention(presence int, p server.HostPlan) int {
	if b := p.LastBackup; b != nil {
		switch b.Status {
		case topics.JobFailed, topics.JobInterrupted, topics.JobExpired:
			return -1
		case topics.JobWarning:
			return min(presence, 1)
		}
	}
	if p.Config.Pending {
		return min(presence, 1)
	}
	return presence
}

func newHostView(h server.Host) hostView {
	v := hostView{Host: h}
	switch {
	case h.Online:
		v.State = hostState{Tone: "ok", Word: "online", Lead: "since", Since: h.ConnectedAt}
		v.Attention = 2
	case h.LastSeen != nil:
		v.State = hostState{Tone: "idle", Word: "offline", Lead: "since", Since: h.LastSeen}
		v.Attention = 0
	default:
		created := h.CreatedAt
		v.State = hostState{Tone: "warn", Word: "never connected", Lead: "enrolled", Since: &created}
		v.Attention = 1
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

// fleetSummary is the strip at the top of the dashboard.
type fleetSummary struct {
	Total, Online, Offline, NeverConnected int
	// Health counts the hosts per health state (#13); the strip links
	// each count to the dashboard filtered by it.
	Health healthCounts
}

func summarize(hosts []server.Host) fleetSummary {
	s := fleetSummary{Total: len(hosts)}
	for _, h := range hosts {
		switch {
		case h.Online:
			s.Online++
		case h.LastSeen != nil:
			s.Offline++
		default:
			s.NeverConnected++
		}
		s.Health.add(h.Health)
	}
	return s
}

// hostFilter is the dashboard's search box and state filter (query string).
type hostFilter struct {
	Query string // matches name, hostname, id, os or arch, case-insensitively
	State string // "", "online", "offline"
	// Health is "" or a server.HealthState (#13, health_view.go).
	Health string
}

// match reports whether v passes the filter.
func (f hostFilter) match(v hostView) bool {
	switch f.State {
	case "online":
		if !v.Online {
			return false
		}
	case "offline":
		if v.Online {
			return false
		}
	}
	if f.Health != "" && string(v.Health) != f.Health {
		return false
	}
	if f.Query == "" {
		return true
	}
	q := strings.ToLower(f.Query)
	for _, s := range []string{v.Name, v.Hostname, v.ID, v.OS, v.Arch} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// hostViews filters hosts and sorts them "needs attention" first, then by name.
func hostViews(hosts []server.Host, f hostFilter) []hostView {
	out := make([]hostView, 0, len(hosts))
	for _, h := range hosts {
		if v := newHostView(h); f.match(v) {
			out = append(out, v)
		}
	}
	sortByAttention(out)
	return out
}

// sortByAttention puts hosts that need a look first, then sorts by name.
func sortByAttention(views []hostView) {
	sort.SliceStable(views, func(i, j int) bool {
		if views[i].Attention != views[j].Attention {
			return views[i].Attention < views[j].Attention
		}
		return views[i].Name < views[j].Name
	})
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
