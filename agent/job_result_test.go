package agent

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// A restore's counts: restic 0.16 counts files and folders together
// (ItemsRestored); with restic 0.17+ the runner counts them apart.
func TestJobResultRestoreCounts(t *testing.T) {
	started := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	// restic 0.18.1 restoring the one file /src/a/b/f.txt with --include.
	res := &restic.Result{Kind: topics.JobRestore, Outcome: restic.OutcomeSucceeded,
		RestoreSummary: &restic.RestoreSummary{TotalFiles: 1, FilesRestored: 4, TotalBytes: 3, BytesRestored: 3}}
	if r := jobResult(res, started); r.ItemsRestored != 4 || r.FilesRestored != 0 || r.DirsRestored != 0 || r.BytesRestored != 3 {
		t.Fatalf("restic 0.16: %+v", r)
	}
	res.Restored = &restic.RestoreCount{Files: 1, Dirs: 3, Unchanged: 2}
	r := jobResult(res, started)
	if r.FilesRestored != 1 || r.DirsRestored != 3 || r.FilesUnchanged != 2 || r.ItemsRestored != 0 || r.BytesRestored != 3 {
		t.Fatalf("restic 0.17+: %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A missing source path is no unreadable item, and restic's words already
// in the reason are not repeated as the detail (the job page shows both).
func TestJobResultSaysThingsOnce(t *testing.T) {
	started := time.Now()
	res := &restic.Result{Kind: topics.JobBackup, ExitCode: 0, Outcome: restic.OutcomeWarning, Reason: restic.ReasonMissingSources,
		Errors:         []restic.ItemError{{Item: "/x", During: "scan", Message: "does not exist, skipped"}, {Item: "/y", Message: "permission denied"}},
		MissingSources: []string{"/x"}}
	if r := jobResult(res, started); r.ErrorCount != 1 {
		t.Fatalf("error count %d, want 1 (the unreadable /y, not the missing /x)", r.ErrorCount)
	}
	failed := &restic.Result{Kind: topics.JobCheck, ExitCode: 1, Outcome: restic.OutcomeFailed,
		Reason: "restic failed with exit code 1: something broke", Detail: "something broke"}
	if r := jobResult(failed, started); r.Reason != failed.Reason || r.Detail != "" {
		t.Fatalf("reason %q, detail %q", r.Reason, r.Detail)
	}
	failed.Reason = restic.ReasonLocked
	if r := jobResult(failed, started); r.Detail != "something broke" {
		t.Fatalf("a detail the reason lacks is kept: %q", r.Detail)
	}
}
