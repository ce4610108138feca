package web

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// presetForm is the "when" part of the schedule forms (the source group
// form's backup schedule, the Schedules tab): a preset with its time, or a
// cron expression, the zone, a random delay in minutes and catch-up. Kept
// as typed, so a refused form comes back with its values.
type presetForm struct {
	Preset, Minute, Time, Weekday, Cron, TimeZone, JitterMinutes string
	CatchUp                                                      bool
}

// newPresetForm is a blank form: daily at 03:00 with catch-up on; the
// zone is filled in by the browser (app.js), else UTC.
func newPresetForm() presetForm {
	return presetForm{Preset: presetDaily, Time: "03:00", Minute: "0", Weekday: "monday", CatchUp: true}
}

func readPresetForm(c *gin.Context) presetForm {
	f := func(name string) string { return strings.TrimSpace(c.PostForm(name)) }
	return presetForm{Preset: f("preset"), Minute: f("minute"), Time: f("time"), Weekday: f("weekday"), Cron: f("cron"),
		TimeZone: f("time_zone"), JitterMinutes: f("jitter_minutes"), CatchUp: c.PostForm("catch_up") != ""}
}

// preset is the form's schedule (nil for "no schedule"), or a sentence
// saying what to fix.
func (f presetForm) preset() (*schedulePreset, string) {
	if f.Preset == presetNone || f.Preset == "none" {
		return nil, ""
	}
	p := &schedulePreset{Preset: f.Preset, Time: f.Time, Weekday: f.Weekday, TimeZone: f.TimeZone}
	if f.Preset == presetCustom {
		p.Cron = f.Cron
	}
	if f.Minute != "" {
		m, err := strconv.Atoi(f.Minute)
		if err != nil {
			return nil, "The minute must be a number from 0 to 59."
		}
		p.Minute = &m
	}
	if f.JitterMinutes != "" {
		n, err := strconv.Atoi(f.JitterMinutes)
		if err != nil || n < 0 || n > topics.MaxJitter/60 {
			return nil, "The random delay is a whole number of minutes from 0 to 360 (or empty for none)."
		}
		p.JitterSeconds = n * 60
	}
	catchUp := f.CatchUp
	p.CatchUp = &catchUp
	return p, ""
}

// presetFormOf prefills the form from a stored schedule.
func presetFormOf(s server.Schedule) presetForm {
	p := presetOf(s.Cron)
	f := newPresetForm()
	f.Preset, f.TimeZone, f.CatchUp = p.Preset, s.TimeZone, s.CatchUp
	switch p.Preset {
	case presetHourly:
		f.Minute = strconv.Itoa(*p.Minute)
	case presetDaily:
		f.Time = p.Time
	case presetWeekly:
		f.Time, f.Weekday = p.Time, p.Weekday
	default:
		f.Cron = p.Cron
	}
	if s.JitterSeconds > 0 {
		f.JitterMinutes = strconv.Itoa((s.JitterSeconds + 59) / 60)
	}
	return f
}

// scheduleForm is a schedule of the Schedules tab: what it runs and when.
type scheduleForm struct {
	Kind           topics.JobKind
	SourceGroup    string // a group's number, for backups
	ReadDataSubset string
	// DrillFiles and DrillMaxMB bound a drill's sample, empty for the
	// defaults.
	DrillFiles, DrillMaxMB string
	presetForm
}

func newScheduleForm() scheduleForm {
	return scheduleForm{Kind: topics.JobBackup, presetForm: newPresetForm()}
}

func readScheduleForm(c *gin.Context) scheduleForm {
	return scheduleForm{Kind: topics.JobKind(strings.TrimSpace(c.PostForm("kind"))), SourceGroup: strings.TrimSpace(c.PostForm("source_group")),
		ReadDataSubset: strings.TrimSpace(c.PostForm("read_data_subset")),
		DrillFiles:     strings.TrimSpace(c.PostForm("drill_files")), DrillMaxMB: strings.TrimSpace(c.PostForm("drill_max_mb")),
		presetForm: readPresetForm(c)}
}

func scheduleFormOf(s server.Schedule) scheduleForm {
	f := scheduleForm{Kind: s.Kind, ReadDataSubset: s.ReadDataSubset, presetForm: presetFormOf(s)}
	if s.SourceGroupID != 0 {
		f.SourceGroup = itoa(s.SourceGroupID)
	}
	if s.DrillFiles != 0 {
		f.DrillFiles = strconv.Itoa(s.DrillFiles)
	}
	if s.DrillMaxMB != 0 {
		f.DrillMaxMB = strconv.Itoa(s.DrillMaxMB)
	}
	return f
}

// input is the domain's form of the schedule, or a sentence saying what
// to fix. paused keeps a stored schedule's state across an edit.
func (f scheduleForm) input(paused bool) (server.ScheduleInput, string) {
	p, msg := f.preset()
	if msg != "" {
		return server.ScheduleInput{}, msg
	}
	if p == nil {
		return server.ScheduleInput{}, "Pick when the schedule runs (hourly, daily, weekly or a cron expression)."
	}
	if f.Kind == topics.JobBackup && f.SourceGroup == "" {
		return server.ScheduleInput{}, "Pick the source group this backup schedule backs up."
	}
	group := f.SourceGroup
	if f.Kind != topics.JobBackup && f.Kind != topics.JobDrill { // a drill may draw from one group
		group = ""
	}
	subset := f.ReadDataSubset
	if f.Kind != topics.JobCheck {
		subset = ""
	}
	var drillFiles, drillMaxMB int
	if f.Kind == topics.JobDrill {
		var ok bool
		if drillFiles, ok = optionalCount(f.DrillFiles); !ok {
			return server.ScheduleInput{}, "The drill's number of files must be a whole number (or empty for the default)."
		}
		if drillMaxMB, ok = optionalCount(f.DrillMaxMB); !ok {
			return server.ScheduleInput{}, "The drill's size limit must be a whole number of MB (or empty for the default)."
		}
	}
	p.Paused = paused
	in, err := p.input(f.Kind, group, subset)
	if err != nil {
		return in, server.PublicMessage(err)
	}
	in.DrillFiles, in.DrillMaxMB = drillFiles, drillMaxMB
	return in, ""
}

// optionalCount reads an optional non-negative whole number (empty: 0).
func optionalCount(v string) (int, bool) {
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}
