package web

import (
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// runTimes is "Next: 03:00" and "Last: 8 h ago — succeeded" for a
// dashboard row, a source group or a schedule (partials/plan.html).
type runTimes struct {
	Next *time.Time
	// Paused: every schedule is paused ("Next: (paused)"); Unscheduled:
	// there is none ("Next: —, run by hand").
	Paused, Unscheduled bool
	Last                *server.JobBrief
}

// NextClock is the next run as a clock time ("03:00", "Mon 03:00").
func (r runTimes) NextClock() string {
	if r.Next == nil {
		return ""
	}
	return clockTime(*r.Next, time.Now())
}

// LastState is the last job's state: its colour and word.
func (r runTimes) LastState() hostState {
	if r.Last == nil {
		return hostState{Tone: "idle", Word: "none yet"}
	}
	tone, ok := jobTones[r.Last.Status]
	if !ok {
		tone = "idle"
	}
	return hostState{Tone: tone, Word: string(r.Last.Status)}
}

// scheduleView is one schedule as the Schedules tab shows it.
type scheduleView struct {
	server.Schedule
	Words string // "daily at 03:00 (Europe/Berlin)"
	Times runTimes
	Form  scheduleForm // the edit form's values
}

func newScheduleView(s server.Schedule) scheduleView {
	return scheduleView{Schedule: s, Words: s.Description,
		Times: runTimes{Next: s.Next, Paused: s.Paused, Last: s.Last}, Form: scheduleFormOf(s)}
}

// What says what the schedule runs: "backup of docs", "forget (every
// group's retention)", "prune", "check", "restore drill of docs".
func (v scheduleView) What() string {
	switch v.Kind {
	case topics.JobBackup:
		return "backup of " + v.SourceGroupName
	case topics.JobForget:
		return "forget (each group's retention)"
	case topics.JobCheck:
		if v.ReadDataSubset != "" {
			return "check, reading " + v.ReadDataSubset + " of the data"
		}
	case topics.JobDrill:
		if v.SourceGroupName != "" {
			return "restore drill of " + v.SourceGroupName
		}
		return "restore drill"
	}
	return string(v.Kind)
}

// Jitter is the random delay in words, or "".
func (v scheduleView) Jitter() string {
	if v.JitterSeconds <= 0 {
		return ""
	}
	return "random delay up to " + humanDuration(time.Duration(v.JitterSeconds)*time.Second)
}

// groupView is one source group as the Sources tab shows it.
type groupView struct {
	server.SourceGroup
	Anchor    string   // the card's id: group-<name>
	Schedules []string // each backup schedule in words
	Retention string   // "keep 7 daily, 4 weekly", or ""
	Times     runTimes
}

func newGroupView(g server.SourceGroup) groupView {
	v := groupView{SourceGroup: g, Anchor: groupAnchor(g.Name), Times: runTimes{Last: g.LastBackup}}
	if g.Retention != nil && !g.Retention.Empty() {
		v.Retention = retentionWords(*g.Retention)
	}
	v.Times.Unscheduled = len(g.Schedules) == 0
	v.Times.Paused = len(g.Schedules) > 0
	for _, s := range g.Schedules {
		w := s.Description
		if s.Paused {
			w += " (paused)"
		}
		v.Schedules = append(v.Schedules, w)
		if !s.Paused {
			v.Times.Paused = false
		}
		if s.Next != nil && !s.Paused && (v.Times.Next == nil || s.Next.Before(*v.Times.Next)) {
			v.Times.Next = s.Next
		}
	}
	return v
}

func newGroupViews(groups []server.SourceGroup) []groupView {
	out := make([]groupView, len(groups))
	for i, g := range groups {
		out[i] = newGroupView(g)
	}
	return out
}

// groupAnchor is a group card's element id, "group-<name>", with spaces
// (allowed in names, not in ids) as dashes.
func groupAnchor(name string) string { return "group-" + strings.ReplaceAll(name, " ", "-") }

// planTimes is a host's next and last backup for its dashboard row.
func planTimes(p *server.HostPlan) runTimes {
	if p == nil {
		return runTimes{Unscheduled: true}
	}
	return runTimes{Next: p.NextRun, Paused: p.AllPaused, Unscheduled: p.NextRun == nil && !p.AllPaused, Last: p.LastBackup}
}

// nextOf is the earliest next backup of a host's schedules, for its vitals.
func nextOf(list []server.Schedule) runTimes {
	r := runTimes{Unscheduled: true}
	backups, paused := 0, 0
	for _, s := range list {
		if s.Kind != topics.JobBackup {
			continue
		}
		backups++
		if s.Paused {
			paused++
			continue
		}
		if s.Next != nil && (r.Next == nil || s.Next.Before(*r.Next)) {
			r.Next = s.Next
		}
	}
	r.Paused = backups > 0 && paused == backups
	r.Unscheduled = r.Next == nil && !r.Paused
	return r
}

// bandwidthWords are a host's caps: "up 1 MiB/s, down none".
func bandwidthWords(b topics.Bandwidth) string {
	if b.UpKBps == 0 && b.DownKBps == 0 {
		return "none"
	}
	word := func(n int) string {
		if n == 0 {
			return "none"
		}
		return humanBytes(uint64(n)*1024) + "/s"
	}
	return "up " + word(b.UpKBps) + ", down " + word(b.DownKBps)
}

// timeZones are offered in the zone field's list; any IANA name may be
// typed. The browser's own zone is filled in first (app.js).
var timeZones = []string{
	"UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam",
	"Europe/Zurich", "Europe/Vienna", "Europe/Warsaw", "Europe/Stockholm", "Europe/Helsinki", "Europe/Moscow",
	"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
	"America/Sao_Paulo", "America/Mexico_City", "Asia/Tokyo", "Asia/Shanghai", "Asia/Singapore", "Asia/Kolkata",
	"Asia/Dubai", "Australia/Sydney", "Pacific/Auckland", "Africa/Johannesburg",
}
