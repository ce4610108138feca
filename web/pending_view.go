package web

import (
	"cmp"
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// pendingPanel is the data of the dashboard's Pending hosts panel. Its
// buttons depend on the viewer's role, so it is rendered per request
// (GET /pending-hosts), never pushed by the event hub.
type pendingPanel struct {
	Hosts        []pendingView
	CSRF         string
	CanConfigure bool
	// Queue is the announce queue's state: Full shows the "queue full"
	// notice with what was dropped to make room.
	Queue server.PendingQueue
	// Addrs are the source addresses with more than one machine waiting,
	// most first: each gets a "Reject all from" button.
	Addrs []pendingAddr
}

// pendingAddr is one source address and how many machines wait from it.
type pendingAddr struct {
	Addr  string
	Count int
}

// pendingView is a machine waiting for approval as the panel shows it.
type pendingView struct {
	server.PendingHost
}

// Platform is "linux/arm64", or a dash when the agent did not say.
func (v pendingView) Platform() string {
	if v.OS == "" && v.Arch == "" {
		return "—"
	}
	return v.OS + "/" + v.Arch
}

// FingerprintGroups is the fingerprint in groups of four characters
// (topics.FingerprintGroups). The page shows the groups with gaps made by
// CSS, so a copied fingerprint has no spaces in it.
func (v pendingView) FingerprintGroups() []string { return topics.FingerprintGroups(v.Fingerprint) }

// SuggestedName prefills the accept form: the machine's hostname, made into
// a valid host name ("till 3.shop" → "till-3.shop"), or "" when nothing
// usable is left.
func (v pendingView) SuggestedName() string {
	var b strings.Builder
	for _, r := range v.Hostname {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), "-_.")
	if len(s) > 63 {
		s = s[:63]
	}
	if server.ValidateHostName(s) != nil {
		return ""
	}
	return s
}

func pendingViews(list []server.PendingHost) []pendingView {
	out := make([]pendingView, len(list))
	for i, p := range list {
		out[i] = pendingView{p}
	}
	return out
}

// newPendingPanel is the panel for the viewer of page p.
func newPendingPanel(p page, q server.PendingQueue) pendingPanel {
	return pendingPanel{Hosts: pendingViews(q.Hosts), CSRF: p.CSRF, CanConfigure: p.CanConfigure, Queue: q,
		Addrs: crowdedAddrs(q.Hosts)}
}

// crowdedAddrs lists the addresses more than one waiting machine announced
// from, most machines first (then by address, so the list does not jump).
func crowdedAddrs(list []server.PendingHost) []pendingAddr {
	counts := map[string]int{}
	for _, p := range list {
		if p.SourceAddr != "" {
			counts[p.SourceAddr]++
		}
	}
	var out []pendingAddr
	for addr, n := range counts {
		if n > 1 {
			out = append(out, pendingAddr{Addr: addr, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b pendingAddr) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Addr, b.Addr))
	})
	return out
}
