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
		{"backup", restic.Result{Kind: topics.JobBackup, Summary: &restic.BackupSummary{SnapshotID: id, FilesNew: 6,
			DataAdded: 48 << 20, DataAddedPacked: 50<<20 + 300<<10, TotalDuration: 11.94}},
			[]string{"snapshot 6d7c80ec saved: 6 new, 0 changed, 0 unmodified files; 48.0 MiB added (50.3 MiB stored) in 11.9 s"}},
		{"backup, restic 0.14", restic.Result{Kind: topics.JobBackup, Summary: &restic.BackupSummary{SnapshotID: id[:8],
			FilesChanged: 1, FilesUnmodified: 2, DataAdded: 100, TotalDuration: 0.5}},
			[]string{"snapshot 6d7c80ec saved: 0 new, 1 changed, 2 unmodified files; 100 B added in 0.5 s"}},
		{"backup dry run", restic.Result{Kind: topics.JobBackup, Summary: &restic.BackupSummary{DryRun: true, FilesNew: 1, DataAdded: 2048}},
			[]string{"dry run, no snapshot saved: 1 new, 0 changed, 0 unmodified files; 2.0 KiB added in 0.0 s"}},
		{"backup failed early", restic.Result{Kind: topics.JobBackup, Outcome: restic.OutcomeFailed}, nil},
		{"restore", restic.Result{Kind: topics.JobRestore, RestoreSummary: &restic.RestoreSummary{TotalFiles: 10, FilesRestored: 9,
			FilesSkipped: 1, TotalBytes: 3 << 30, BytesRestored: 1 << 30, SecondsElapsed: 4}},
			[]string{"restored 9 of 10 files (1.0 GiB of 3.0 GiB) in 4 s; 1 files skipped, already as in the snapshot"}},
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
