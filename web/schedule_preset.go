package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// Schedule presets are how people pick a time ("daily at 03:00"); the
// domain and the agent only know cron (topics.CronParser). This file turns
// a preset into a cron expression, and a cron expression back into the
// words and the preset an edit form starts from.

// Preset names, as forms and the API spell them.
const (
	presetNone   = ""       // no schedule (a group run by hand only)
	presetHourly = "hourly" // every hour at minute M
	presetDaily  = "daily"  // every day at HH:MM
	presetWeekly = "weekly" // one weekday at HH:MM
	presetCustom = "custom" // a cron expression
)

// weekdays are the weekly preset's days, in cron's numbering (0 = Sunday).
var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// schedulePreset is a schedule as a person describes it: a preset and its
// time, or a cron expression, plus the zone, jitter and catch-up. It is
// the "schedule" object of the source group API and the fields of the
// schedule forms.
type schedulePreset struct {
	Preset        string `json:"preset"`  // hourly, daily, weekly or custom
	Minute        *int   `json:"minute"`  // hourly: 0-59
	Time          string `json:"time"`    // daily, weekly: "HH:MM"
	Weekday       string `json:"weekday"` // weekly: monday … sunday, or 0-6
	Cron          string `json:"cron"`    // custom (a preset of "" with a cron is custom too)
	TimeZone      string `json:"time_zone"`
	JitterSeconds int    `json:"jitter_seconds"`
	CatchUp       *bool  `json:"catch_up"` // nil: on
	Paused        bool   `json:"paused"`
}

// cron is the preset's cron expression, or a sentence saying what to fix.
func (p schedulePreset) cron() (string, error) {
	preset := strings.ToLower(strings.TrimSpace(p.Preset))
	if preset == presetNone && strings.TrimSpace(p.Cron) != "" {
		preset = presetCustom
	}
	switch preset {
	case presetHourly:
		m := 0
		if p.Minute != nil {
			m = *p.Minute
		}
		if m < 0 || m > 59 {
			return "", invalid("The minute of an hourly schedule is 0 to 59.")
		}
		return fmt.Sprintf("%d * * * *", m), nil
	case presetDaily, presetWeekly:
		h, m, ok := parseClock(p.Time)
		if !ok {
			return "", invalid(fmt.Sprintf("The time of a %s schedule is HH:MM on a 24-hour clock, e.g. 03:00.", preset))
		}
		if preset == presetDaily {
			return fmt.Sprintf("%d %d * * *", m, h), nil
		}
		d, ok := parseWeekday(p.Weekday)
		if !ok {
			return "", invalid("The day of a weekly schedule is a weekday name such as monday (or 0-6, 0 = Sunday).")
		}
		return fmt.Sprintf("%d %d * * %d", m, h, d), nil
	case presetCustom:
		expr := strings.TrimSpace(p.Cron)
		if expr == "" {
			return "", invalid("A custom schedule needs a cron expression: five fields (minute hour day month weekday), e.g. 30 2 * * 1-5.")
		}
		return expr, nil
	}
	return "", invalid(fmt.Sprintf("Unknown schedule preset %q; use hourly, daily, weekly or custom.", clip(p.Preset, 40)))
}

// input is the domain's form of the schedule, checked the way the agent
// will read it (cron, zone, jitter), so a bad schedule is refused before
// anything is stored.
func (p schedulePreset) input(kind topics.JobKind, group, subset string) (server.ScheduleInput, error) {
	expr, err := p.cron()
	if err != nil {
		return server.ScheduleInput{}, err
	}
	in := server.ScheduleInput{Kind: kind, SourceGroup: group, Cron: expr, TimeZone: strings.TrimSpace(p.TimeZone),
		CatchUp: p.CatchUp, JitterSeconds: p.JitterSeconds, Paused: p.Paused, ReadDataSubset: subset}
	return in, checkSchedule(in)
}

// checkSchedule validates a schedule as the agent will read it. The
// domain checks again (and resolves the group); this catches a bad cron,
// zone or jitter before anything is stored, e.g. before the group a
// schedule belongs to is created.
func checkSchedule(in server.ScheduleInput) error {
	s := topics.Schedule{ID: "sch_1", Kind: in.Kind, Cron: in.Cron, TimeZone: in.TimeZone,
		JitterSeconds: in.JitterSeconds, ReadDataSubset: in.ReadDataSubset}
	if in.Kind == topics.JobBackup {
		if strings.TrimSpace(in.SourceGroup) == "" {
			return invalid("A backup schedule needs a source group (its id or name).")
		}
		s.SourceGroup = "sg_1" // the domain resolves the real one
	} else if in.SourceGroup != "" {
		return invalid(fmt.Sprintf("A %s schedule is for the whole host; leave out source_group.", clip(string(in.Kind), 20)))
	}
	if err := s.Validate(); err != nil {
		return specInvalid(err)
	}
	return nil
}

// parseClock reads "HH:MM" (or "H:MM") on a 24-hour clock.
func parseClock(s string) (h, m int, ok bool) {
	hs, ms, found := strings.Cut(strings.TrimSpace(s), ":")
	if !found || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 {
		return 0, 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// parseWeekday reads a weekday name (or its first three letters) or 0-6.
func parseWeekday(s string) (int, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) == 1 && s[0] >= '0' && s[0] <= '6' {
		return int(s[0] - '0'), true
	}
	for i, d := range weekdays {
		if s == d || (len(s) == 3 && strings.HasPrefix(d, s)) {
			return i, true
		}
	}
	return 0, false
}

// presetOf is the preset a cron expression is, for prefilling a form: the
// shapes cron() writes (and @hourly, @daily, @weekly) come back as their
// preset; anything else is custom.
func presetOf(expr string) schedulePreset {
	expr = strings.TrimSpace(expr)
	switch expr {
	case "@hourly":
		expr = "0 * * * *"
	case "@daily", "@midnight":
		expr = "0 0 * * *"
	case "@weekly":
		expr = "0 0 * * 0"
	}
	f := strings.Fields(expr)
	custom := schedulePreset{Preset: presetCustom, Cron: expr}
	if len(f) != 5 || f[2] != "*" || f[3] != "*" {
		return custom
	}
	m, err := strconv.Atoi(f[0])
	if err != nil || m < 0 || m > 59 || strconv.Itoa(m) != f[0] {
		return custom
	}
	if f[1] == "*" {
		if f[4] != "*" {
			return custom
		}
		return schedulePreset{Preset: presetHourly, Minute: &m}
	}
	h, err := strconv.Atoi(f[1])
	if err != nil || h < 0 || h > 23 || strconv.Itoa(h) != f[1] {
		return custom
	}
	clock := fmt.Sprintf("%02d:%02d", h, m)
	if f[4] == "*" {
		return schedulePreset{Preset: presetDaily, Time: clock}
	}
	d, err := strconv.Atoi(f[4])
	if err != nil || d < 0 || d > 7 || strconv.Itoa(d) != f[4] {
		return custom
	}
	return schedulePreset{Preset: presetWeekly, Time: clock, Weekday: weekdays[d%7]}
}

// scheduleWords says when a schedule runs: "daily at 03:00
// (Europe/Berlin)", "hourly at :15 (UTC)", "weekly on Monday at 22:30
// (UTC)", "cron 30 2 * * 1-5 (UTC)".
func scheduleWords(expr, zone string) string {
	if zone == "" {
		zone = "UTC"
	}
	p := presetOf(expr)
	var s string
	switch p.Preset {
	case presetHourly:
		s = fmt.Sprintf("hourly at :%02d", *p.Minute)
	case presetDaily:
		s = "daily at " + p.Time
	case presetWeekly:
		s = "weekly on " + strings.ToUpper(p.Weekday[:1]) + p.Weekday[1:] + " at " + p.Time
	default:
		s = "cron " + p.Cron
	}
	return s + " (" + zone + ")"
}

// clockTime is a next run as the dashboard shows it: "03:00" within a day,
// "Mon 03:00" within a week, else "2 Jan 03:00", in the time's own zone
// (the schedule's).
func clockTime(t, now time.Time) string {
	switch d := t.Sub(now); {
	case d < 24*time.Hour:
		return t.Format("15:04")
	case d < 7*24*time.Hour:
		return t.Format("Mon 15:04")
	}
	return t.Format("2 Jan 15:04")
}
