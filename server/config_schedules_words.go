package server

import (
	"fmt"
	"strconv"
	"strings"
)

// Schedules in the words people use (#4): the domain and the agent know
// only cron (topics.CronParser), while pages and the API say "daily at
// 03:00". This file reads a cron expression back as the preset it is;
// the web layer turns presets into cron.

// Preset names, as forms and the API spell them.
const (
	PresetHourly = "hourly" // every hour at minute M
	PresetDaily  = "daily"  // every day at HH:MM
	PresetWeekly = "weekly" // one weekday at HH:MM
	PresetCustom = "custom" // any other cron expression
)

// Weekdays are the weekly preset's days, in cron's numbering (0 = Sunday).
var Weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// CronPreset is a cron expression as a preset: hourly at Minute, daily at
// Time ("HH:MM"), weekly on Weekday at Time, or custom (Cron).
type CronPreset struct {
	Preset  string
	Minute  int
	Time    string
	Weekday string
	Cron    string
}

// PresetOfCron is the preset a cron expression is: the shapes the presets
// write (and @hourly, @daily, @weekly) come back as their preset; anything
// else is custom.
func PresetOfCron(expr string) CronPreset {
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
	custom := CronPreset{Preset: PresetCustom, Cron: expr}
	if len(f) != 5 || f[2] != "*" || f[3] != "*" {
		return custom
	}
	m, ok := cronNumber(f[0], 59)
	if !ok {
		return custom
	}
	if f[1] == "*" {
		if f[4] != "*" {
			return custom
		}
		return CronPreset{Preset: PresetHourly, Minute: m}
	}
	h, ok := cronNumber(f[1], 23)
	if !ok {
		return custom
	}
	clock := fmt.Sprintf("%02d:%02d", h, m)
	if f[4] == "*" {
		return CronPreset{Preset: PresetDaily, Minute: m, Time: clock}
	}
	d, ok := cronNumber(f[4], 7)
	if !ok {
		return custom
	}
	return CronPreset{Preset: PresetWeekly, Minute: m, Time: clock, Weekday: Weekdays[d%7]}
}

// cronNumber reads a plain cron field 0..max written without padding.
func cronNumber(s string, max int) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && n <= max && strconv.Itoa(n) == s
}

// DescribeSchedule says when a schedule runs: "daily at 03:00
// (Europe/Berlin)", "hourly at :15 (UTC)", "weekly on Monday at 22:30
// (UTC)", "cron 30 2 * * 1-5 (UTC)".
func DescribeSchedule(expr, zone string) string {
	p := PresetOfCron(expr)
	var s string
	switch p.Preset {
	case PresetHourly:
		s = fmt.Sprintf("hourly at :%02d", p.Minute)
	case PresetDaily:
		s = "daily at " + p.Time
	case PresetWeekly:
		s = "weekly on " + strings.ToUpper(p.Weekday[:1]) + p.Weekday[1:] + " at " + p.Time
	default:
		s = "cron " + p.Cron
	}
	return s + " (" + zoneName(zone) + ")"
}

// zoneName is a schedule's zone as shown: "UTC" when none was set.
func zoneName(z string) string {
	if z == "" {
		return "UTC"
	}
	return z
}
