package agent

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// maxResultText is topics.JobResult's bound on reason and detail.
const maxResultText = 4096

// jobResult turns restic's Result into the wire result. LogLines and the
// restic version are filled in by finishJob.
func jobResult(res *restic.Result, started time.Time) *topics.JobResult {
	code := res.ExitCode
	r := &topics.JobResult{
		ExitCode:           &code,
		Reason:             clipResultText(res.Reason),
		StartedAt:          started,
		DurationMS:         res.Duration.Milliseconds(),
		AlreadyInitialized: res.AlreadyInitialized,
		// A missing source path is no unreadable item: the reason says it.
		ErrorCount: max(len(res.Errors)+res.ErrorsOmitted-len(res.MissingSources), 0),
	}
	// The page shows the reason, then the detail: once is enough when the
	// reason already quotes restic's words.
	if !strings.Contains(res.Reason, res.Detail) {
		r.Detail = clipResultText(res.Detail)
	}
	if topics.ValidResticID(res.RepositoryID) {
		r.RepositoryID = res.RepositoryID
	}
	if s := res.Summary; s != nil {
		if topics.ValidResticID(s.SnapshotID) {
			r.SnapshotID = s.SnapshotID
		}
		backup := s.BackupSummary
		r.Backup = &backup
	}
	if s := res.RestoreSummary; s != nil {
		r.ItemsRestored, r.BytesRestored = s.FilesRestored, s.BytesRestored
	}
	if c := res.Restored; c != nil { // restic 0.17+: files and folders apart
		r.FilesRestored, r.DirsRestored, r.FilesUnchanged, r.ItemsRestored = c.Files, c.Dirs, c.Unchanged, 0
	}
	r.Stats = res.Stats
	if res.Kind == topics.JobForget {
		removed := restic.RemovedIDs(res.Forget)
		r.SnapshotsRemoved = len(removed)
		if dryRun(res.Args) {
			r.WouldRemove, r.SnapshotsKept = previewIDs(removed), keptCount(res.Forget)
		}
	}
	return r
}

// previewIDs is what a dry run would remove as the server takes it: full
// snapshot ids, at most topics.MaxPreviewIDs (SnapshotsRemoved has the
// whole count).
func previewIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		if len(out) == topics.MaxPreviewIDs {
			break
		}
		if topics.ValidResticID(id) {
			out = append(out, id)
		}
	}
	return out
}

// keptCount is how many snapshots forget keeps, over all its groups.
func keptCount(groups []restic.ForgetGroup) int {
	n := 0
	for _, g := range groups {
		n += len(g.Keep)
	}
	return n
}

// clipResultText makes s fit a result's reason or detail.
func clipResultText(s string) string { return clipUTF8(s, maxResultText, "...") }

// clipUTF8 makes s valid UTF-8 of at most n bytes: if it is longer, it is
// cut on a character boundary and ends with suffix.
func clipUTF8(s string, n int, suffix string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len(suffix)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}
