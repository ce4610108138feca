package agent

import (
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
		{topics.JobSpec{Kind: topics.JobInit}, restic.Op{Kind: restic.KindInit}},
		{topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/home"}, Excludes: []string{"*.tmp"}, Tags: []string{"daily"}, BandwidthUpKBps: 512},
			restic.Op{Kind: restic.KindBackup, Backup: restic.BackupOptions{Paths: []string{"/home"}, Excludes: []string{"*.tmp"}, Tags: []string{"daily"}},
				Bandwidth: restic.Bandwidth{UploadKiB: 512}}},
		{topics.JobSpec{Kind: topics.JobForget, Retention: &topics.Retention{Last: 1, Daily: 7, Within: "1y", Tags: []string{"keep"}}, Prune: true},
			restic.Op{Kind: restic.KindForget, Forget: restic.ForgetOptions{Retention: restic.Retention{Last: 1, Daily: 7, Within: "1y", Tags: []string{"keep"}}, Prune: true}}},
		{topics.JobSpec{Kind: topics.JobPrune, BandwidthDownKBps: 100}, restic.Op{Kind: restic.KindPrune, Bandwidth: restic.Bandwidth{DownloadKiB: 100}}},
		{topics.JobSpec{Kind: topics.JobCheck, ReadDataSubset: "1/5"}, restic.Op{Kind: restic.KindCheck, Check: restic.CheckOptions{ReadDataSubset: "1/5"}}},
		{topics.JobSpec{Kind: topics.JobUnlock}, restic.Op{Kind: restic.KindUnlock}},
		{topics.JobSpec{Kind: topics.JobSnapshots}, restic.Op{Kind: restic.KindSnapshots}},
		{topics.JobSpec{Kind: topics.JobRestore, Snapshot: "latest", Include: []string{"/etc"}, Target: target},
			restic.Op{Kind: restic.KindRestore, Restore: restic.RestoreOptions{SnapshotID: "latest", Include: []string{"/etc"}, Target: target}}},
	} {
		if err := tc.spec.Validate(); err != nil {
			t.Fatalf("%s: the test's spec is invalid: %v", tc.spec.Kind, err)
		}
		got, reason := opFor(&tc.spec, repo)
		tc.want.Repository = *repo
		if reason != "" || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v (%q), want %+v", tc.spec.Kind, got, reason, tc.want)
		}
	}
	if len(topics.JobKinds()) != 8 {
		t.Fatal("a job kind was added: map it in opFor and here")
	}
}

func TestOpForRefusesWhatCannotRunHere(t *testing.T) {
	repo := &restic.Repository{URL: "/srv/repo", Password: "pw"}
	if _, reason := opFor(&topics.JobSpec{Kind: topics.JobCheck}, nil); reason != reasonNoRepository {
		t.Fatalf("no repository: %q", reason)
	}
	for spec, want := range map[*topics.JobSpec]string{
		{Kind: topics.JobRestore, Snapshot: "latest", Target: "/no/such/dir"}: `restore target "/no/such/dir" does not exist: create it first`,
		{Kind: topics.JobBackup, Paths: []string{`D:\data`}}:                  `is not absolute`,
	} {
		_, reason := opFor(spec, repo)
		if !strings.HasPrefix(reason, "the job cannot run on this host: ") || !strings.Contains(reason, want) ||
			strings.Contains(reason, restic.ErrInvalidOp.Error()) {
			t.Errorf("%s: reason %q", spec.Kind, reason)
		}
	}
}

func TestJobResultFromRestic(t *testing.T) {
	id := strings.Repeat("ab", 32)
	started := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	res := &restic.Result{Kind: restic.KindBackup, ExitCode: 3, Outcome: restic.OutcomeWarning, Reason: restic.ReasonIncomplete,
		Detail: "read /x: permission denied", Duration: 1500 * time.Millisecond,
		Summary: &restic.BackupSummary{SnapshotID: id, FilesNew: 3, DataAdded: 9, TotalFilesProcessed: 4, TotalDuration: 1.2},
		Errors:  []restic.ItemError{{Item: "/x"}}, ErrorsOmitted: 2}
	r := jobResult(res, started)
	if *r.ExitCode != 3 || r.Reason != restic.ReasonIncomplete || r.SnapshotID != id || r.Backup.FilesNew != 3 || r.Backup.TotalFilesProcessed != 4 ||
		r.DurationMS != 1500 || !r.StartedAt.Equal(started) || r.ErrorCount != 3 || stateFor(res.Outcome) != topics.JobWarning {
		t.Fatalf("backup result %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	forget := &restic.Result{Kind: restic.KindForget, Outcome: restic.OutcomeSucceeded,
		Forget: []restic.ForgetGroup{{Remove: []restic.Snapshot{{ID: id}, {ID: id}}}, {Remove: []restic.Snapshot{{ID: id}}}}}
	if r := jobResult(forget, started); r.SnapshotsRemoved != 3 || stateFor(forget.Outcome) != topics.JobSucceeded {
		t.Fatalf("forget result %+v", r)
	}
	restore := &restic.Result{Kind: restic.KindRestore, RestoreSummary: &restic.RestoreSummary{FilesRestored: 5, BytesRestored: 50}, RepositoryID: "short"}
	if r := jobResult(restore, started); r.FilesRestored != 5 || r.BytesRestored != 50 || r.RepositoryID != "" {
		t.Fatalf("restore result %+v", r)
	}
	long := jobResult(&restic.Result{Detail: strings.Repeat("é", 5000), Outcome: restic.OutcomeFailed, ExitCode: -1}, started)
	if len(long.Detail) > maxResultText || long.Validate() != nil || stateFor(restic.OutcomeFailed) != topics.JobFailed {
		t.Fatalf("long detail: %d bytes", len(long.Detail))
	}
}
