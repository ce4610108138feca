package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

func TestOpForMapsEveryKind(t *testing.T) {
	repo := &restic.Repository{URL: "/srv/repo", Password: "pw", Env: map[string]string{"AWS_ACCESS_KEY_ID": "k"}}
	target := t.TempDir()
	for _, tc := range []struct {
		spec topics.JobSpec
		want restic.Op
	}{
		{topics.JobSpec{Kind: topics.JobInit}, restic.Op{Kind: topics.JobInit}},
		{topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/home"}, Excludes: []string{"*.tmp"}, Tags: []string{"daily"}, BandwidthUpKBps: 512},
			restic.Op{Kind: topics.JobBackup, Backup: restic.BackupOptions{Paths: []string{"/home"}, Excludes: []string{"*.tmp"}, Tags: []string{"daily"}},
				Bandwidth: topics.Bandwidth{UpKBps: 512}}},
		{topics.JobSpec{Kind: topics.JobForget, Retention: &topics.Retention{Last: 1, Daily: 7, Within: "1y", Tags: []string{"keep"}}, Prune: true},
			restic.Op{Kind: topics.JobForget, Forget: restic.ForgetOptions{Retention: topics.Retention{Last: 1, Daily: 7, Within: "1y", Tags: []string{"keep"}}, Prune: true}}},
		{topics.JobSpec{Kind: topics.JobPrune, BandwidthDownKBps: 100}, restic.Op{Kind: topics.JobPrune, Bandwidth: topics.Bandwidth{DownKBps: 100}}},
		{topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: "1/5"}, restic.Op{Kind: topics.JobCheck, Check: restic.CheckOptions{ReadDataSubset: "1/5"}}},
		{topics.JobSpec{Kind: topics.JobUnlock}, restic.Op{Kind: topics.JobUnlock}},
		{topics.JobSpec{Kind: topics.JobSnapshots}, restic.Op{Kind: topics.JobSnapshots}},
		{topics.JobSpec{Kind: topics.JobStats}, restic.Op{Kind: topics.JobStats}},
		{topics.JobSpec{Kind: topics.JobDrill, Drill: &topics.DrillOptions{Files: 3}}, restic.Op{Kind: topics.JobDrill}}, // job_drill.go runs it
		{topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Include: []string{"/etc"}, Target: target},
			restic.Op{Kind: topics.JobRestore, Restore: restic.RestoreOptions{SnapshotID: "latest", Include: []string{"/etc"}, Target: target}}},
	} {
		if err := tc.spec.Validate(); err != nil {
			t.Fatalf("%s: the test's spec is invalid: %v", tc.spec.Kind, err)
		}
		got, reason := opFor(&tc.spec, repo, topics.Bandwidth{})
		tc.want.Repository = *repo
		if reason != "" || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v (%q), want %+v", tc.spec.Kind, got, reason, tc.want)
		}
	}
	if len(topics.JobKinds()) != 10 {
		t.Fatal("a job kind was added: map it in opFor and here")
	}
}

// The #4 options reach restic, and the host-wide caps apply unless the
// job gives its own limit (direction by direction).
func TestOpForSourceGroupOptionsAndCaps(t *testing.T) {
	repo := &restic.Repository{URL: "/srv/repo", Password: "pw"}
	excl := filepath.Join(t.TempDir(), "excludes")
	if err := os.WriteFile(excl, []byte("*.iso\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hostCap := topics.Bandwidth{UpKBps: 100, DownKBps: 200}
	backup := topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/home"}, ExcludeFiles: []string{excl}, ExcludeCaches: true,
		OneFileSystem: true, Tags: []string{"x", topics.GroupTag("sg_1")}, SourceGroup: "sg_1", ForgetAfter: &topics.Retention{Last: 2},
		BandwidthUpKBps: 50}
	op, reason := opFor(&backup, repo, hostCap)
	want := restic.BackupOptions{Paths: []string{"/home"}, ExcludeFiles: []string{excl}, ExcludeCaches: true, OneFileSystem: true,
		Tags: []string{"x", "rm-group:sg_1"}}
	if reason != "" || !reflect.DeepEqual(op.Backup, want) || op.Bandwidth != (topics.Bandwidth{UpKBps: 50, DownKBps: 200}) {
		t.Fatalf("backup: %+v (%q)", op, reason)
	}
	after := forgetAfterOp(&backup, op)
	if err := after.Validate(); err != nil || after.Forget.Retention.Last != 2 || !reflect.DeepEqual(after.Forget.FilterTags, []string{"rm-group:sg_1"}) ||
		after.Forget.DryRun || after.Forget.Prune || after.Bandwidth != op.Bandwidth {
		t.Fatalf("forget after: %+v (%v)", after, err)
	}
	dry := topics.JobSpec{Kind: topics.JobForget, Retention: &topics.Retention{Daily: 3}, DryRun: true, FilterTags: []string{"rm-group:sg_2"}}
	op, reason = opFor(&dry, repo, hostCap)
	if reason != "" || !op.Forget.DryRun || !reflect.DeepEqual(op.Forget.FilterTags, []string{"rm-group:sg_2"}) || op.Bandwidth != hostCap {
		t.Fatalf("dry-run forget: %+v (%q)", op, reason)
	}
	if _, reason := opFor(&topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/home"}, ExcludeFiles: []string{"/no/such/file"}}, repo, hostCap); !strings.Contains(reason, "does not exist") {
		t.Fatalf("missing exclude file: %q", reason)
	}
}

func TestOpForRefusesWhatCannotRunHere(t *testing.T) {
	repo := &restic.Repository{URL: "/srv/repo", Password: "pw"}
	if _, reason := opFor(&topics.JobSpec{Kind: topics.JobCheck}, nil, topics.Bandwidth{}); reason != reasonNoRepository {
		t.Fatalf("no repository: %q", reason)
	}
	for spec, want := range map[*topics.JobSpec]string{
		{Kind: topics.JobRestore, Snapshot: "latest", Target: "/no/such/dir"}: `restore target "/no/such/dir" does not exist: create it first`,
		{Kind: topics.JobBackup, Paths: []string{`D:\data`}}:                  `is not absolute`,
	} {
		_, reason := opFor(spec, repo, topics.Bandwidth{})
		if !strings.HasPrefix(reason, "the job cannot run on this host: ") || !strings.Contains(reason, want) ||
			strings.Contains(reason, restic.ErrInvalidOp.Error()) {
			t.Errorf("%s: reason %q", spec.Kind, reason)
		}
	}
}

func TestJobResultFromRestic(t *testing.T) {
	id := strings.Repeat("ab", 32)
	started := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	res := &restic.Result{Kind: topics.JobBackup, ExitCode: 3, Outcome: restic.OutcomeWarning, Reason: restic.ReasonIncomplete,
		Detail: "read /x: permission denied", Duration: 1500 * time.Millisecond,
		Summary: &restic.BackupSummary{SnapshotID: id, BackupSummary: topics.BackupSummary{FilesNew: 3, DataAdded: 9, TotalFilesProcessed: 4, TotalDuration: 1.2}},
		Errors:  []restic.ItemError{{Item: "/x"}}, ErrorsOmitted: 2}
	r := jobResult(res, started)
	if *r.ExitCode != 3 || r.Reason != restic.ReasonIncomplete || r.SnapshotID != id || r.Backup.FilesNew != 3 || r.Backup.TotalFilesProcessed != 4 ||
		r.DurationMS != 1500 || !r.StartedAt.Equal(started) || r.ErrorCount != 3 || stateFor(res.Outcome) != topics.JobWarning {
		t.Fatalf("backup result %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	forget := &restic.Result{Kind: topics.JobForget, Outcome: restic.OutcomeSucceeded,
		Forget: []restic.ForgetGroup{{Remove: []restic.Snapshot{{ID: id}, {ID: id}}}, {Remove: []restic.Snapshot{{ID: id}}}}}
	if r := jobResult(forget, started); r.SnapshotsRemoved != 3 || stateFor(forget.Outcome) != topics.JobSucceeded ||
		r.WouldRemove != nil || r.SnapshotsKept != 0 {
		t.Fatalf("forget result %+v", r)
	}
	// A dry run lists what it would remove (full, valid ids, bounded) and
	// how many it keeps.
	many := make([]restic.Snapshot, topics.MaxPreviewIDs+5)
	for i := range many {
		many[i].ID = fmt.Sprintf("%064x", i)
	}
	dry := &restic.Result{Kind: topics.JobForget, Outcome: restic.OutcomeSucceeded, Args: []string{"forget", "--json", "--keep-last=1", "--dry-run"},
		Forget: []restic.ForgetGroup{{Remove: append([]restic.Snapshot{{ID: "short"}}, many...), Keep: []restic.Snapshot{{ID: id}, {ID: id}}}}}
	r = jobResult(dry, started)
	if len(r.WouldRemove) != topics.MaxPreviewIDs || r.WouldRemove[0] != many[0].ID || r.SnapshotsKept != 2 || r.SnapshotsRemoved != len(many)+1 {
		t.Fatalf("dry run result: %d ids, first %q, kept %d, removed %d", len(r.WouldRemove), r.WouldRemove[0], r.SnapshotsKept, r.SnapshotsRemoved)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	restore := &restic.Result{Kind: topics.JobRestore, RestoreSummary: &restic.RestoreSummary{FilesRestored: 5, BytesRestored: 50}, RepositoryID: "short"}
	if r := jobResult(restore, started); r.ItemsRestored != 5 || r.BytesRestored != 50 || r.RepositoryID != "" {
		t.Fatalf("restore result %+v", r)
	}
	long := jobResult(&restic.Result{Detail: strings.Repeat("é", 5000), Outcome: restic.OutcomeFailed, ExitCode: -1}, started)
	if len(long.Detail) > maxResultText || long.Validate() != nil || stateFor(restic.OutcomeFailed) != topics.JobFailed {
		t.Fatalf("long detail: %d bytes", len(long.Detail))
	}
}
