package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

func TestSummaryLines(t *testing.T) {
	id := strings.Repeat("6d7c80ec", 8)
	keep := []restic.Snapshot{{ID: id}}
	for _, c := range []struct {
		name string
		res  restic.Result
		want []string
	}{
		{"backup", restic.Result{Kind: topics.JobBackup, Summary: &restic.BackupSummary{SnapshotID: id, BackupSummary: topics.BackupSummary{FilesNew: 6,
			DataAdded: 48 << 20, DataAddedPacked: 50<<20 + 300<<10, TotalDuration: 11.94}}},
			[]string{"snapshot 6d7c80ec saved: 6 new, 0 changed, 0 unmodified files; 48.0 MiB added (50.3 MiB stored) in 11.9 s"}},
		{"backup, restic 0.14", restic.Result{Kind: topics.JobBackup, Summary: &restic.BackupSummary{SnapshotID: id[:8], BackupSummary: topics.BackupSummary{
			FilesChanged: 1, FilesUnmodified: 2, DataAdded: 100, TotalDuration: 0.5}}},
			[]string{"snapshot 6d7c80ec saved: 0 new, 1 changed, 2 unmodified files; 100 B added in 0.5 s"}},
		{"backup dry run", restic.Result{Kind: topics.JobBackup, Summary: &restic.BackupSummary{DryRun: true, BackupSummary: topics.BackupSummary{FilesNew: 1, DataAdded: 2048}}},
			[]string{"dry run, no snapshot saved: 1 new, 0 changed, 0 unmodified files; 2.0 KiB added in 0.0 s"}},
		{"backup failed early", restic.Result{Kind: topics.JobBackup, Outcome: restic.OutcomeFailed}, nil},
		{"stats, restic 0.18", restic.Result{Kind: topics.JobStats, Stats: &topics.RepoStats{TotalSize: 300 << 10, UncompressedSize: new(uint64(900 << 10)), Snapshots: 1}},
			[]string{"repository holds 300.0 KiB (900.0 KiB before compression) in 1 snapshot"}},
		{"stats, restic 0.13", restic.Result{Kind: topics.JobStats, Stats: &topics.RepoStats{TotalSize: 2 << 20, Snapshots: 3}},
			[]string{"repository holds 2.0 MiB in 3 snapshots"}},
		{"stats unreadable", restic.Result{Kind: topics.JobStats, Outcome: restic.OutcomeFailed}, nil},
		// restic 0.18.1 restoring one file at /src/a/b/f.txt with --include
		// sums up "total_files":1,"files_restored":4: the folders count as
		// files, the parents only in files_restored.
		{"restore, restic 0.17+", restic.Result{Kind: topics.JobRestore, RestoreSummary: &restic.RestoreSummary{TotalFiles: 1, FilesRestored: 4,
			TotalBytes: 3, BytesRestored: 3}, Restored: &restic.RestoreCount{Files: 1, Dirs: 3}},
			[]string{"restored 1 file and 3 folders (3 B) in 0 s"}},
		{"restore over files already there", restic.Result{Kind: topics.JobRestore, RestoreSummary: &restic.RestoreSummary{TotalFiles: 4,
			FilesRestored: 4, FilesSkipped: 2, BytesSkipped: 3, SecondsElapsed: 2}, Restored: &restic.RestoreCount{Files: 1, Dirs: 3, Unchanged: 2}},
			[]string{"restored 1 file and 3 folders (0 B) in 2 s; 2 files already as in the snapshot, left alone"}},
		{"restore, restic 0.16", restic.Result{Kind: topics.JobRestore, RestoreSummary: &restic.RestoreSummary{TotalFiles: 13, FilesRestored: 16,
			TotalBytes: 3 << 30, BytesRestored: 1 << 30, SecondsElapsed: 4}},
			[]string{"restored 16 files and folders (1.0 GiB) in 4 s"}},
		{"restore, restic 0.16, one item", restic.Result{Kind: topics.JobRestore, RestoreSummary: &restic.RestoreSummary{FilesRestored: 1, FilesSkipped: 1}},
			[]string{"restored 1 file or folder (0 B) in 0 s; 1 file already as in the snapshot, left alone"}},
		{"restore, restic 0.15", restic.Result{Kind: topics.JobRestore, Outcome: restic.OutcomeSucceeded}, nil},
		{"check ok", restic.Result{Kind: topics.JobCheck, Outcome: restic.OutcomeSucceeded}, []string{"check found no errors"}},
		{"check errors", restic.Result{Kind: topics.JobCheck, Outcome: restic.OutcomeFailed, Errors: make([]restic.ItemError, 2),
			CheckSummary: &restic.CheckSummary{NumErrors: 3, SuggestRepairIndex: true}},
			[]string{"check found 3 errors; restic suggests `restic repair index`"}},
		{"check could not open", restic.Result{Kind: topics.JobCheck, Outcome: restic.OutcomeFailed, Reason: restic.ReasonWrongPassword}, nil},
		{"forget", restic.Result{Kind: topics.JobForget, Outcome: restic.OutcomeSucceeded,
			Forget: []restic.ForgetGroup{{Keep: keep, Remove: keep}, {Keep: keep}}},
			[]string{"forget removed 1 snapshot and kept 2"}},
		{"forget dry run", restic.Result{Kind: topics.JobForget, Outcome: restic.OutcomeSucceeded, Args: []string{"forget", "--dry-run"},
			Forget: []restic.ForgetGroup{{Remove: append(keep, keep...)}}},
			[]string{"forget would remove 2 snapshots and kept 0"}},
		{"init", restic.Result{Kind: topics.JobInit, Outcome: restic.OutcomeSucceeded, RepositoryID: id},
			[]string{"created repository " + id}},
	} {
		if got := summaryLines(&c.res); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// Init on a repository already there says that nothing was overwritten,
// whether the password opens it, and how to start afresh.
func TestSummaryLinesReinit(t *testing.T) {
	ready := strings.Join(summaryLines(&restic.Result{Kind: topics.JobInit, Outcome: restic.OutcomeSucceeded,
		AlreadyInitialized: true, RepositoryID: "abc123"}), "\n")
	locked := strings.Join(summaryLines(&restic.Result{Kind: topics.JobInit, Outcome: restic.OutcomeFailed,
		AlreadyInitialized: true, Reason: restic.ReasonWrongPassword}), "\n")
	for text, wants := range map[string][]string{
		ready:  {"restic never overwrites an existing repository", "password opens it (repository abc123)", "counts the repository as ready", "clear the remote by hand", "initialise the repository again"},
		locked: {"restic never overwrites an existing repository", "password does not open it (wrong password)", "the job fails", "clear the remote by hand"},
	} {
		for _, want := range wants {
			if !strings.Contains(text, want) {
				t.Errorf("lacks %q:\n%s", want, text)
			}
		}
	}
}
