package web

import (
	"github.com/restic-manager/restic-manager/server"
)

// How the pages show host health (#13): a badge per row for every state
// but ok, the counts in the dashboard's strip, each a link to the
// dashboard filtered by it (?health=overdue).

// healthCounts is the strip's count per health state.
type healthCounts struct {
	OK, Overdue, Failing, Offline, Pending int
}

// Items is the strip's entries in their order, for the template.
func (c healthCounts) Items() []healthItem {
	return []healthItem{
		{server.HealthOK, "Backing up", c.OK}, {server.HealthOverdue, "Overdue", c.Overdue},
		{server.HealthFailing, "Failing", c.Failing}, {server.HealthOffline, "Offline too long", c.Offline},
		{server.HealthPending, "No backup yet", c.Pending},
	}
}

// healthItem is one entry of the strip.
type healthItem struct {
	State server.HealthState
	Label string
	Count int
}

// Tone is the entry's badge colour.
func (i healthItem) Tone() string { return healthTone(i.State) }

func healthTone(s server.HealthState) string {
	switch s {
	case server.HealthOK:
		return "ok"
	case server.HealthFailing:
		return "bad"
	case server.HealthOverdue, server.HealthOffline:
		return "warn"
	}
	return "idle"
}

// HealthTone is the colour of the row's health badge.
func (v hostView) HealthTone() string { return healthTone(v.Health) }

// HealthWord is the row's health badge: "overdue", "backup failing",
// "offline too long", "no backup yet"; "" for ok (the row says nothing).
func (v hostView) HealthWord() string {
	switch v.Health {
	case server.HealthOverdue:
		return "overdue"
	case server.HealthFailing:
		return "backup failing"
	case server.HealthOffline:
		return "offline too long"
	case server.HealthPending:
		return "no backup yet"
	}
	return ""
}
