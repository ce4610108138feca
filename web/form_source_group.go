package web

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// sourceGroupForm is the source group form (create on the host page's
// Sources tab, edit on the group's page): the group, its retention policy
// and its backup schedule. Kept as typed, so a refused form comes back
// with its values.
type sourceGroupForm struct {
	Name, Paths, Excludes, ExcludeFiles, Tags string
	ExcludeCaches, OneFileSystem              bool
	retentionForm
	ForgetAfterBackup bool
	presetForm
	hookForm
}

// retentionForm is the retention editor's fields.
type retentionForm struct {
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly, KeepWithin, KeepTags string
}

func newSourceGroupForm() sourceGroupForm { return sourceGroupForm{presetForm: newPresetForm()} }

func readSourceGroupForm(c *gin.Context) sourceGroupForm {
	f := func(name string) string { return strings.TrimSpace(c.PostForm(name)) }
	return sourceGroupForm{
		Name: f("name"), Paths: f("paths"), Excludes: f("excludes"), ExcludeFiles: f("exclude_files"), Tags: f("tags"),
		ExcludeCaches: c.PostForm("exclude_caches") != "", OneFileSystem: c.PostForm("one_file_system") != "",
		retentionForm: readRetentionForm(c), ForgetAfterBackup: c.PostForm("forget_after_backup") != "",
		presetForm: readPresetForm(c), hookForm: readHookForm(c),
	}
}

func readRetentionForm(c *gin.Context) retentionForm {
	f := func(name string) string { return strings.TrimSpace(c.PostForm(name)) }
	return retentionForm{KeepLast: f("keep_last"), KeepHourly: f("keep_hourly"), KeepDaily: f("keep_daily"), KeepWeekly: f("keep_weekly"),
		KeepMonthly: f("keep_monthly"), KeepYearly: f("keep_yearly"), KeepWithin: f("keep_within"), KeepTags: f("keep_tags")}
}

// sourceGroupFormOf prefills the edit form from a stored group.
func sourceGroupFormOf(g server.SourceGroup) sourceGroupForm {
	f := sourceGroupForm{
		Name: g.Name, Paths: strings.Join(g.Paths, "\n"), Excludes: strings.Join(g.Excludes, "\n"),
		ExcludeFiles: strings.Join(g.ExcludeFiles, "\n"), Tags: strings.Join(g.Tags, ", "),
		ExcludeCaches: g.ExcludeCaches, OneFileSystem: g.OneFileSystem, ForgetAfterBackup: g.ForgetAfterBackup,
		presetForm: newPresetForm(),
	}
	f.Preset = presetNone
	if len(g.Schedules) > 0 {
		f.presetForm = presetFormOf(g.Schedules[0])
	}
	if r := g.Retention; r != nil {
		n := func(v int) string {
			if v == 0 {
				return ""
			}
			return strconv.Itoa(v)
		}
		f.retentionForm = retentionForm{KeepLast: n(r.Last), KeepHourly: n(r.Hourly), KeepDaily: n(r.Daily), KeepWeekly: n(r.Weekly),
			KeepMonthly: n(r.Monthly), KeepYearly: n(r.Yearly), KeepWithin: r.Within, KeepTags: strings.Join(r.Tags, ", ")}
	}
	return f
}

// input is the domain's form of the group and its schedule (nil: none
// chosen), or a sentence saying what to fix.
func (f sourceGroupForm) input() (server.SourceGroupInput, *schedulePreset, string) {
	in := server.SourceGroupInput{Name: f.Name, Paths: lines(f.Paths), Excludes: lines(f.Excludes), ExcludeFiles: lines(f.ExcludeFiles),
		ExcludeCaches: f.ExcludeCaches, OneFileSystem: f.OneFileSystem, Tags: splitTags(f.Tags), ForgetAfterBackup: f.ForgetAfterBackup}
	if in.Name == "" {
		return in, nil, "Give the source group a name, e.g. documents."
	}
	var msg string
	if in.Hooks, msg = f.hookForm.input(); msg != "" {
		return in, nil, msg
	}
	if len(in.Paths) == 0 {
		return in, nil, "Enter at least one path to back up, one per line (e.g. /home), then save again."
	}
	r, msg := f.retention()
	if msg != "" {
		return in, nil, msg
	}
	if !r.Empty() {
		in.Retention = &r
	}
	if err := checkGroup(in); err != nil {
		return in, nil, server.PublicMessage(err)
	}
	p, msg := f.preset()
	if msg != "" {
		return in, nil, msg
	}
	if p != nil {
		if _, err := p.cron(); err != nil {
			return in, nil, server.PublicMessage(err)
		}
	}
	return in, p, ""
}

// groupSave is what saving the form stores: the group and its backup
// schedule. No schedule (sched nil) removes the group's schedules; else
// it becomes the group's first one (which keeps its paused state: pause
// and resume have their own buttons) and the others stay as they are.
func groupSave(in server.SourceGroupInput, sched *schedulePreset, old *server.SourceGroup) (server.SourceGroupSave, error) {
	save := server.SourceGroupSave{SourceGroupInput: in, Schedules: []server.GroupSchedule{}}
	if sched == nil {
		return save, nil
	}
	var first server.GroupSchedule
	if old != nil {
		for i, s := range old.Schedules {
			if i == 0 {
				first.ID, sched.Paused = s.ID, s.Paused
				continue
			}
			save.Schedules = append(save.Schedules, server.GroupSchedule{ID: s.ID, ScheduleInput: s.Input()})
		}
	}
	var err error
	if first.ScheduleInput, err = sched.input(topics.JobBackup, "", ""); err != nil {
		return save, err
	}
	save.Schedules = append([]server.GroupSchedule{first}, save.Schedules...)
	return save, nil
}

// retention is the editor's policy (possibly empty), or a sentence.
func (f retentionForm) retention() (topics.Retention, string) {
	var msg string
	num := func(label, v string) int {
		if v == "" || msg != "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			msg = label + " must be a whole number (or empty); fix it and try again."
		}
		return n
	}
	r := topics.Retention{
		Last: num("Keep last", f.KeepLast), Hourly: num("Keep hourly", f.KeepHourly), Daily: num("Keep daily", f.KeepDaily),
		Weekly: num("Keep weekly", f.KeepWeekly), Monthly: num("Keep monthly", f.KeepMonthly), Yearly: num("Keep yearly", f.KeepYearly),
		Within: f.KeepWithin, Tags: splitTags(f.KeepTags),
	}
	if msg == "" && !r.Empty() {
		if err := r.Validate(); err != nil {
			msg = server.PublicMessage(specInvalid(err))
		}
	}
	return r, msg
}

// keep is the typed value of the keep_<rule> field.
func (f retentionForm) keep(rule string) string {
	return jobForm{KeepLast: f.KeepLast, KeepHourly: f.KeepHourly, KeepDaily: f.KeepDaily, KeepWeekly: f.KeepWeekly,
		KeepMonthly: f.KeepMonthly, KeepYearly: f.KeepYearly}.keep(rule)
}

// splitTags splits a tag field on commas and white space.
func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}
