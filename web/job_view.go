package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// jobView is a job as the pages show it: one clear state (tone + word), the
// times and a one-line description of what it does.
type jobView struct {
	server.Job
	State hostState
}

func newJobView(j server.Job) jobView {
	return jobView{Job: j, State: jobStateOf(j)}
}

// jobRowView is a job as a list row shows it: a running job's word says how
// far it is ("running 42 %", UX.md).
func (h *handler) jobRowView(j server.Job) jobView {
	v := newJobView(j)
	if j.Status == topics.JobRunning {
		if p, ok := h.svc.JobProgress(j.ID); ok {
			v.State.Word = fmt.Sprintf("running %d %%", min(int(p.Percent), 99))
		}
	}
	return v
}

// jobRowViews is jobRowView for a list.
func (h *handler) jobRowViews(jobs []server.Job) []jobView {
	out := make([]jobView, len(jobs))
	for i, j := range jobs {
		out[i] = h.jobRowView(j)
	}
	return out
}

// jobTones gives every job state its colour; the word is the state itself
// (the browser test and people read the same word).
var jobTones = map[topics.JobState]string{
	topics.JobQueued:      "idle",
	topics.JobDelivered:   "info",
	topics.JobRunning:     "info",
	topics.JobSucceeded:   "ok",
	topics.JobWarning:     "warn",
	topics.JobFailed:      "bad",
	topics.JobCanceled:    "idle",
	topics.JobExpired:     "warn",
	topics.JobInterrupted: "bad",
}

func jobStateOf(j server.Job) hostState {
	tone, ok := jobTones[j.Status]
	if !ok {
		tone = "idle"
	}
	st := hostState{Tone: tone, Word: string(j.Status)}
	switch {
	case j.Status.Terminal() && j.FinishedAt != nil:
		st.Since = j.FinishedAt
	case j.Status == topics.JobRunning && j.StartedAt != nil:
		st.Lead, st.Since = "since", j.StartedAt
	default:
		created := j.CreatedAt
		st.Lead, st.Since = "queued", &created
	}
	return st
}

// Terminal reports whether the job has ended (no cancel button, a summary).
func (v jobView) Terminal() bool { return v.Status.Terminal() }

// Preview reports whether the job is a retention preview (a dry-run forget):
// it shows what forget would remove and removes nothing, so every list, the
// job page and the JSON mark it, lest it pass for a real forget.
func (v jobView) Preview() bool { return isPreview(v.Job) }

// Cancelable reports whether asking for a cancel still means something.
func (v jobView) Cancelable() bool { return !v.Status.Terminal() && !v.CancelRequested }

// What is the job in a few words: "backup of /etc, /home",
// "forget (keep 7 daily)", "restore 1a2b3c4d to /tmp/r".
func (v jobView) What() string {
	s := v.Spec
	switch v.Kind {
	case topics.JobBackup:
		return "backup of " + listWords(s.Paths, 3)
	case topics.JobRestore:
		return restoreWords(s)
	case topics.JobForget:
		if s.Retention == nil {
			return "forget"
		}
		what := "forget (" + retentionWords(*s.Retention) + ")"
		if s.Prune {
			what += " and prune"
		}
		if s.DryRun {
			what = "preview of " + what + ": removes nothing"
		}
		return what
	case topics.JobCheck:
		if s.ReadDataSubset != "" {
			return "check, reading " + s.ReadDataSubset + " of the data"
		}
		return "check"
	case topics.JobSnapshots:
		return "refresh the snapshot list"
	case topics.JobDrill:
		return "restore drill"
	case topics.JobInit:
		return "initialise the repository"
	}
	return string(v.Kind)
}

// Duration is how long the job ran, or "" before it ran.
func (v jobView) Duration() string {
	if v.Summary != nil && v.Summary.DurationMS > 0 {
		return humanDuration(time.Duration(v.Summary.DurationMS) * time.Millisecond)
	}
	if v.StartedAt != nil && v.FinishedAt != nil {
		return humanDuration(v.FinishedAt.Sub(*v.StartedAt))
	}
	return ""
}

// Limits describes the job's bandwidth caps, or "".
func (v jobView) Limits() string {
	var parts []string
	if v.Spec.BandwidthUpKBps > 0 {
		parts = append(parts, "up "+humanBytes(uint64(v.Spec.BandwidthUpKBps)*1024)+"/s")
	}
	if v.Spec.BandwidthDownKBps > 0 {
		parts = append(parts, "down "+humanBytes(uint64(v.Spec.BandwidthDownKBps)*1024)+"/s")
	}
	return strings.Join(parts, ", ")
}

func retentionWords(r topics.Retention) string {
	var parts []string
	for _, p := range []struct {
		n    int
		unit string
	}{{r.Last, "last"}, {r.Hourly, "hourly"}, {r.Daily, "daily"}, {r.Weekly, "weekly"}, {r.Monthly, "monthly"}, {r.Yearly, "yearly"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.unit))
		}
	}
	if r.Within != "" {
		parts = append(parts, "within "+r.Within)
	}
	if len(r.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(r.Tags, ","))
	}
	return "keep " + strings.Join(parts, ", ")
}

// listWords joins up to n items and says how many more there are.
func listWords(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// shortID is the 8-character form restic shows of a snapshot id.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// humanBytes is a size in binary units, as restic prints them ("1.5 GiB").
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	format := "%.1f %ciB"
	if v >= 100 {
		format = "%.0f %ciB"
	}
	return fmt.Sprintf(format, v, "KMGTPE"[exp])
}

// humanDuration is "850 ms", "42 s", "3 min 5 s", "2 h 10 min".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%d min %d s", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// progressView is a running job's live progress bar.
type progressView struct {
	Job      jobView // for the summary once it ended
	Running  bool    // the job runs and reported progress
	Terminal bool
	Status   topics.JobState
	P        topics.JobProgress
}

func newProgressView(j server.Job, p *topics.JobProgress) progressView {
	v := progressView{Job: newJobView(j), Terminal: j.Status.Terminal(), Status: j.Status}
	if p != nil && !v.Terminal {
		v.Running, v.P = true, *p
	}
	return v
}

// ShowBar reports whether the card shows the bar: not for a job that
// ended without finishing its work (failed, canceled, ...), whose empty
// bar said only "ended" beside the state and reason the header shows.
func (v progressView) ShowBar() bool { return !v.Terminal || v.Percent() == 100 }

// Restored is what a restore wrote, in words: "1 file and 3 folders, 3 B"
// (agents count them apart with restic 0.17+), "4 files and folders, 3 B"
// (restic 0.16 counts them together), with "; 2 files unchanged" for
// those already as in the snapshot; "" when the job says nothing.
func (v jobView) Restored() string {
	s := v.Summary
	var what string
	switch {
	case s == nil:
		return ""
	case s.ItemsRestored == 1:
		what = "1 file or folder"
	case s.ItemsRestored > 0:
		what = fmt.Sprintf("%s files and folders", thousands(s.ItemsRestored))
	case s.DirsRestored > 0 || s.FilesUnchanged > 0:
		what = countOf(s.FilesRestored, "file") + " and " + countOf(s.DirsRestored, "folder")
	case s.FilesRestored > 0: // a job stored before agents told folders apart
		what = countOf(s.FilesRestored, "file")
	default:
		return ""
	}
	what += ", " + humanBytes(s.BytesRestored)
	if s.FilesUnchanged > 0 {
		what += "; " + countOf(s.FilesUnchanged, "file") + " unchanged"
	}
	return what
}

// countOf is "1 file", "1,204 files".
func countOf(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

// Percent is the bar's value, rounded down to a whole percent (never 100
// before the job is done).
func (v progressView) Percent() int {
	if v.Terminal {
		if v.Status == topics.JobSucceeded || v.Status == topics.JobWarning {
			return 100
		}
		return 0
	}
	return min(int(v.P.Percent), 99)
}

// ETA is the time left in words, or "" when unknown.
func (v progressView) ETA() string {
	if !v.Running || v.P.ETASeconds < 0 || v.P.Percent == 0 {
		return ""
	}
	return humanDuration(time.Duration(v.P.ETASeconds) * time.Second)
}

// Bytes is "1.2 GiB of 4.0 GiB".
func (v progressView) Bytes() string {
	if v.P.BytesTotal == 0 {
		return humanBytes(v.P.BytesDone)
	}
	return humanBytes(v.P.BytesDone) + " of " + humanBytes(v.P.BytesTotal)
}

// Files is "1,204 of 10,000 files".
func (v progressView) Files() string {
	if v.P.FilesTotal == 0 {
		return fmt.Sprintf("%s files", thousands(v.P.FilesDone))
	}
	return fmt.Sprintf("%s of %s files", thousands(v.P.FilesDone), thousands(v.P.FilesTotal))
}

// thousands writes n with thousands separators: 12,345.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
