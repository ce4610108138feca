package agent

import (
	"fmt"
	"strings"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// summaryLines is the agent's account, in words, of what restic did: the
// lines that follow restic's own output in the job log, in place of
// restic's JSON summary, which is not logged; e.g. "snapshot 6d7c80ec
// saved: 6 new, 0 changed, 0 unmodified files; 48.0 MiB added (50.3 MiB
// stored) in 11.9 s". None when restic said nothing to sum up; a
// failure's reason is in the job's result.
func summaryLines(res *restic.Result) []string {
	switch res.Kind {
	case topics.JobInit:
		return initLines(res)
	case topics.JobBackup:
		if s := res.Summary; s != nil && (s.SnapshotID != "" || s.DryRun) {
			return []string{backupLine(s)}
		}
	case topics.JobRestore:
		if line := restoreLine(res); line != "" {
			return []string{line}
		}
	case topics.JobCheck:
		return checkLines(res)
	case topics.JobStats:
		if s := res.Stats; s != nil {
			return []string{statsLine(s)}
		}
	case topics.JobForget:
		if res.Outcome == restic.OutcomeSucceeded {
			verb := "removed"
			if dryRun(res.Args) {
				verb = "would remove"
			}
			return []string{fmt.Sprintf("forget %s %s and kept %d", verb, count(len(restic.RemovedIDs(res.Forget)), "snapshot"), keptCount(res.Forget))}
		}
	}
	return nil
}

// statsLine sums up a stats run: "repository holds 1.2 GiB (3.4 GiB
// before compression) in 12 snapshots".
func statsLine(s *topics.RepoStats) string {
	size := formatBytes(s.TotalSize)
	if s.UncompressedSize != nil && *s.UncompressedSize != s.TotalSize {
		size += " (" + formatBytes(*s.UncompressedSize) + " before compression)"
	}
	return fmt.Sprintf("repository holds %s in %s", size, count(int(min(s.Snapshots, 1<<31)), "snapshot"))
}

func backupLine(s *restic.BackupSummary) string {
	added := formatBytes(s.DataAdded) + " added"
	if s.DataAddedPacked > 0 { // restic 0.15+
		added += fmt.Sprintf(" (%s stored)", formatBytes(s.DataAddedPacked))
	}
	what := fmt.Sprintf("%d new, %d changed, %d unmodified files; %s in %.1f s",
		s.FilesNew, s.FilesChanged, s.FilesUnmodified, added, s.TotalDuration)
	if s.DryRun {
		return "dry run, no snapshot saved: " + what
	}
	return fmt.Sprintf("snapshot %s saved: %s", shortID(s.SnapshotID), what)
}

// restoreLine says what a restore wrote: "restored 1 file and 3 folders
// (3 B) in 0 s". restic's summary counts folders as files, and restoring
// a subset it counts the parent folders it restores in files_restored but
// not in total_files ("4 of 1 files"); restic 0.17+ reports every item,
// which the runner counts apart (Result.Restored). From restic 0.16 only
// the summary's count is known, and said to be of files and folders;
// before 0.16 restic says nothing.
func restoreLine(res *restic.Result) string {
	s, c := res.RestoreSummary, res.Restored
	if s == nil && c == nil {
		return ""
	}
	if s == nil {
		s = &restic.RestoreSummary{}
	}
	what := fmt.Sprintf("%d files and folders", s.FilesRestored)
	if s.FilesRestored == 1 {
		what = "1 file or folder"
	}
	skipped := s.FilesSkipped
	if c != nil {
		what, skipped = count(int(c.Files), "file")+" and "+count(int(c.Dirs), "folder"), c.Unchanged
	}
	line := fmt.Sprintf("restored %s (%s) in %d s", what, formatBytes(s.BytesRestored), s.SecondsElapsed)
	if skipped > 0 {
		line += fmt.Sprintf("; %s already as in the snapshot, left alone", count(int(skipped), "file"))
	}
	return line
}

// initLines says what init did. On a repository that was already there
// it explains what the server's re-init promises: nothing is overwritten,
// and starting afresh is a manual step.
func initLines(res *restic.Result) []string {
	if !res.AlreadyInitialized {
		if res.Outcome == restic.OutcomeSucceeded && res.RepositoryID != "" {
			return []string{"created repository " + res.RepositoryID}
		}
		return nil
	}
	lines := []string{"a repository already exists at this location, so restic created none: restic never overwrites an existing repository, and nothing in it was changed"}
	if res.Outcome == restic.OutcomeSucceeded {
		id := ""
		if res.RepositoryID != "" {
			id = " (repository " + res.RepositoryID + ")"
		}
		lines = append(lines, "the configured password opens it"+id+", so the agent counts the repository as ready, with the snapshots it holds")
	} else {
		lines = append(lines, fmt.Sprintf("the configured password does not open it (%s), so the job fails: set the password this repository was created with", res.Reason))
	}
	return append(lines, "to start afresh instead, clear the remote by hand (delete everything at the repository's location), then initialise the repository again")
}

func checkLines(res *restic.Result) []string {
	errs := len(res.Errors) + res.ErrorsOmitted
	var hints []string
	if s := res.CheckSummary; s != nil { // restic 0.18+
		errs = max(errs, int(s.NumErrors))
		if s.SuggestRepairIndex {
			hints = append(hints, "restic suggests `restic repair index`")
		}
		if s.SuggestPrune {
			hints = append(hints, "restic suggests `restic prune`")
		}
	}
	var line string
	switch {
	case res.Outcome == restic.OutcomeSucceeded && errs == 0:
		line = "check found no errors"
	case errs > 0:
		line = "check found " + count(errs, "error")
	default:
		return nil
	}
	return []string{strings.Join(append([]string{line}, hints...), "; ")}
}

// dryRun reports whether restic ran with --dry-run.
func dryRun(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--dry-run" {
			return true
		}
	}
	return false
}

// shortID is a snapshot or repository ID as restic shows it (8 digits).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// count is "1 snapshot", "2 snapshots".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// formatBytes writes n in binary units with one decimal: "48.0 MiB".
func formatBytes(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	for v >= 1024 && unit < len(units)-1 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %s", v, units[unit])
}
