package restic

import (
	"math"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Progress is the state of a running backup or restore, from restic's
// `status` messages.
type Progress struct {
	// Percent is 0 to 100, by bytes.
	Percent    float64 `json:"percent"`
	FilesDone  uint64  `json:"files_done"`
	FilesTotal uint64  `json:"files_total"`
	BytesDone  uint64  `json:"bytes_done"`
	BytesTotal uint64  `json:"bytes_total"`
	// ETASeconds is restic's estimate of the time left, or one computed
	// from the elapsed time and Percent when restic gives none; -1 while
	// unknown.
	ETASeconds int64 `json:"eta_seconds"`
	// ElapsedSeconds since restic started the operation.
	ElapsedSeconds int64 `json:"elapsed_seconds"`
	// CurrentFile is one of the files restic is working on ("" if none).
	CurrentFile string `json:"current_file,omitempty"`
	// ErrorCount is how many items failed so far (backup).
	ErrorCount uint64 `json:"error_count,omitempty"`
}

// ProgressInterval is the least time between two OnProgress calls. restic
// prints status up to 60 times a second with --json; the throttle is ours.
// RESTIC_PROGRESS_FPS is deliberately left alone: lowered, restic 0.18.1
// prints no status at all for a run shorter than one tick.
const ProgressInterval = time.Second

// progressFrom turns a status message into Progress. elapsed is our own
// measure, used when restic does not report one (restic 0.14 omits zero
// fields, and its restore prints no status at all).
func progressFrom(kind topics.JobKind, s *statusMsg, elapsed time.Duration) Progress {
	p := Progress{
		Percent:    100 * min(max(s.PercentDone, 0), 1),
		FilesTotal: s.TotalFiles,
		BytesTotal: s.TotalBytes,
		ErrorCount: s.ErrorCount,
		ETASeconds: -1,
	}
	if kind == topics.JobRestore {
		p.FilesDone, p.BytesDone = s.FilesRestored, s.BytesRestored
	} else {
		p.FilesDone, p.BytesDone = s.FilesDone, s.BytesDone
	}
	if len(s.CurrentFiles) > 0 {
		p.CurrentFile = clip(s.CurrentFiles[0], topics.MaxLogLine)
	}
	p.ElapsedSeconds = clampSeconds(float64(s.SecondsElapsed))
	if s.SecondsElapsed == 0 {
		p.ElapsedSeconds = clampSeconds(elapsed.Seconds())
	}
	switch {
	case s.SecondsRemaining != nil && (*s.SecondsRemaining > 0 || p.Percent >= 100):
		p.ETASeconds = clampSeconds(float64(*s.SecondsRemaining))
	case p.Percent >= 100:
		p.ETASeconds = 0
	case p.Percent > 0 && p.ElapsedSeconds > 0:
		frac := p.Percent / 100
		p.ETASeconds = clampSeconds(float64(p.ElapsedSeconds) * (1 - frac) / frac)
	}
	return p
}

// clampSeconds keeps a count of seconds in int64 range (a hostile or
// broken status could claim 2^64).
func clampSeconds(s float64) int64 {
	const limit = 100 * 365 * 24 * 3600 // a century
	if math.IsNaN(s) || s < 0 {
		return 0
	}
	return int64(min(s, limit))
}

// throttle lets an event through at most once per interval; the first one
// always passes.
type throttle struct {
	interval time.Duration
	last     time.Time
	started  bool
}

func (t *throttle) allow(now time.Time) bool {
	if !t.due(now) {
		return false
	}
	t.started, t.last = true, now
	return true
}

// due reports whether allow(now) would let an event through.
func (t *throttle) due(now time.Time) bool {
	return !t.started || now.Sub(t.last) >= t.interval
}
