package web

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// jobForm is every "run a job" form of the host page: Back up now, Restore
// (per snapshot), the maintenance actions and Refresh list. Kind says which
// was posted; the fields are kept as typed, so a refused form comes back
// with its values.
type jobForm struct {
	Kind topics.JobKind
	// Backup: one path or pattern per line; tags separated by commas or
	// spaces; or a source group (its number: Run now).
	Paths, Excludes, Tags string
	SourceGroup           string
	// Any kind: KiB/s, empty for none.
	BandwidthUp, BandwidthDown string
	// Forget.
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly, KeepWithin string
	Prune                                                                            bool
	// Check.
	ReadDataSubset string
	// Restore.
	Snapshot, Target, Include string
	// Drill: the sample's bounds, empty for the defaults.
	DrillFiles, DrillMaxMB string
}

func newJobForm(c *gin.Context) jobForm {
	f := func(name string) string { return strings.TrimSpace(c.PostForm(name)) }
	return jobForm{
		Kind:  topics.JobKind(f("kind")),
		Paths: f("paths"), Excludes: f("excludes"), Tags: f("tags"), SourceGroup: f("source_group"),
		BandwidthUp: f("bandwidth_up_kbps"), BandwidthDown: f("bandwidth_down_kbps"),
		KeepLast: f("keep_last"), KeepHourly: f("keep_hourly"), KeepDaily: f("keep_daily"),
		KeepWeekly: f("keep_weekly"), KeepMonthly: f("keep_monthly"), KeepYearly: f("keep_yearly"),
		KeepWithin: f("keep_within"), Prune: c.PostForm("prune") != "",
		ReadDataSubset: f("read_data_subset"),
		Snapshot:       f("snapshot"), Target: f("target"), Include: f("include"),
		DrillFiles: f("drill_files"), DrillMaxMB: f("drill_max_mb"),
	}
}

// spec turns the form into a job spec, or says in one sentence what to fix.
// The spec's own Validate has the last word (specInvalid).
func (f jobForm) spec() (topics.JobSpec, string) {
	s := topics.JobSpec{Kind: f.Kind}
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
	s.BandwidthUpKBps = num("The upload limit", f.BandwidthUp)
	s.BandwidthDownKBps = num("The download limit", f.BandwidthDown)
	switch f.Kind {
	case topics.JobBackup:
		s.Paths, s.Excludes = lines(f.Paths), lines(f.Excludes)
		s.Tags = splitTags(f.Tags)
		if len(s.Paths) == 0 && f.SourceGroup == "" {
			return s, "Enter at least one path to back up, one per line (e.g. /etc), then press Back up now again."
		}
	case topics.JobForget:
		r, rmsg := retentionForm{KeepLast: f.KeepLast, KeepHourly: f.KeepHourly, KeepDaily: f.KeepDaily, KeepWeekly: f.KeepWeekly,
			KeepMonthly: f.KeepMonthly, KeepYearly: f.KeepYearly, KeepWithin: f.KeepWithin}.retention()
		if msg == "" && rmsg != "" {
			return s, rmsg
		}
		if msg == "" && r.Empty() {
			return s, "Fill in at least one keep rule (e.g. keep daily 7) so forget knows which snapshots to keep."
		}
		s.Retention, s.Prune = &r, f.Prune
	case topics.JobCheck:
		s.ReadDataSubset = f.ReadDataSubset
	case topics.JobRestore:
		s.Snapshot, s.Target, s.Include = f.Snapshot, f.Target, lines(f.Include)
		if s.Target == "" {
			return s, "Enter the directory on the host to restore into (an absolute path such as /srv/restore), then restore again."
		}
	case topics.JobDrill:
		files, maxMB := num("The number of files", f.DrillFiles), num("The size limit", f.DrillMaxMB)
		if files != 0 || maxMB != 0 {
			s.Drill = &topics.DrillOptions{Files: files, MaxMB: maxMB}
		}
	case topics.JobInit:
		return s, "Initialise a repository from the Repository page."
	}
	if msg != "" {
		return s, msg
	}
	if err := checkJobSource(s, f.SourceGroup); err != nil {
		return s, server.PublicMessage(err)
	}
	return s, ""
}

// keepRules are the forget form's count fields, in restic's order.
var keepRules = []string{"last", "hourly", "daily", "weekly", "monthly", "yearly"}

// keep is the typed value of the keep_<rule> field.
func (f jobForm) keep(rule string) string {
	switch rule {
	case "last":
		return f.KeepLast
	case "hourly":
		return f.KeepHourly
	case "daily":
		return f.KeepDaily
	case "weekly":
		return f.KeepWeekly
	case "monthly":
		return f.KeepMonthly
	case "yearly":
		return f.KeepYearly
	}
	return ""
}

// lines splits a textarea into its non-empty, trimmed lines.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
