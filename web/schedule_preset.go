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
	presetNone   = ""                  // no schedule (a group run by hand only)
	presetHourly = server.PresetHourly // every hour at minute M
	presetDaily  = server.PresetDaily  // every day at HH:MM
	presetWeekly = server.PresetWeekly // one weekday at HH:MM
	presetCustom = server.PresetCustom // a cron expression
)

// weekdays are the weekly preset's days, in cron's numbering (0 = Sunday).
var weekdays = server.Weekdays

// schedulePreset is a schedule as a person describes it: a preset and its
// time, or a cron expression, plus the zone, jitter and catch-up. The
// schedule forms and the API's schedule bodies (scheduleRequest) fill it.
type schedulePreset struct {
	Preset        string // hourly, daily, weekly or custom
	Minute        *int   // hourly: 0-59
	Time          string // daily, weekly: "HH:MM"
	Weekday       string // weekly: monday … sunday, or 0-6
	Cron          string // custom (a preset of "" with a cron is custom too)
	TimeZone      string
	JitterSeconds int
	CatchUp       *bool // nil: on
	Paused        bool
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

// input is the domain's form of the schedule; the domain checks it the
// way the agent will read it (cron, zone, jitter, the group).
func (p schedulePreset) input(kind topics.JobKind, group, subset string) (server.ScheduleInput, error) {
	expr, err := p.cron()
	if err != nil {
		return server.ScheduleInput{}, err
	}
	return server.ScheduleInput{Kind: kind, SourceGroup: group, Cron: expr, TimeZone: strings.TrimSpace(p.TimeZone),
		CatchUp: p.CatchUp, JitterSeconds: p.JitterSeconds, Paused: p.Paused, ReadDataSubset: subset}, nil
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

// presetOf is the preset a cron expression is, for prefilling a form
// (server.PresetOfCron reads it).
func presetOf(expr string) schedulePreset {
	c := server.PresetOfCron(expr)
	p := schedulePreset{Preset: c.Preset, Time: c.Time, Weekday: c.Weekday, Cron: c.Cron}
	if c.Preset == presetHourly {
		p.Minute = &c.Minute
	}
	return p
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

// scheduleWords says when a schedule runs (server.DescribeSchedule).
func scheduleWords(expr, zone string) string { return server.DescribeSchedule(expr, zone) }
