package restic

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestLifecycle walks one repository through every operation, in the order
// an operator meets them: init (twice), backup, snapshots, a second backup,
// restore, forget (dry run, then real), prune, check, unlock.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	r, logs := newRunner(t)
	repo := repoAt(filepath.Join(t.TempDir(), "repo"))
	created := mustRun(t, r, Op{Kind: topics.JobInit, Repository: repo})
	// restic before 0.15 answers init in text, with a short ID.
	if created.Outcome != OutcomeSucceeded || created.AlreadyInitialized || created.RepositoryID == "" {
		t.Fatalf("init: %+v", created)
	}

	again := mustRun(t, r, Op{Kind: topics.JobInit, Repository: repo})
	if again.Outcome != OutcomeSucceeded || !again.AlreadyInitialized || again.Reason != ReasonAlreadyInitialized {
		t.Fatalf("second init: outcome %s, already %v, reason %q", again.Outcome, again.AlreadyInitialized, again.Reason)
	}
	if !strings.HasPrefix(again.RepositoryID, created.RepositoryID) || len(again.RepositoryID) != 64 {
		t.Errorf("second init: repository ID %q, want %q (from cat config)", again.RepositoryID, created.RepositoryID)
	}

	src := t.TempDir()
	files := genTree(t, src, 40, 64<<10)
	if err := os.WriteFile(filepath.Join(src, "skip.tmp"), []byte("excluded"), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		progress []Progress
	)
	lines := &lineLog{}
	first := mustRun(t, r, Op{
		Kind: topics.JobBackup, Repository: repo,
		Backup:  BackupOptions{Paths: []string{src}, Excludes: []string{"*.tmp"}, Tags: []string{"nightly"}, Host: "test-host", ExcludeCaches: true, OneFileSystem: true},
		OnLine:  lines.add,
		OnStart: func(args []string) { lines.add("start", strings.Join(args, " ")) },
		OnProgress: func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, p)
		},
	})
	if first.Outcome != OutcomeSucceeded || first.ExitCode != 0 || first.Summary == nil {
		t.Fatalf("backup: %+v\nlog:\n%s", first, lines)
	}
	if got := first.Summary.FilesNew; got != uint64(len(files)) {
		t.Errorf("backup: files_new %d, want %d (skip.tmp excluded)", got, len(files))
	}
	if want := "start: " + strings.Join(first.Args, " "); lines.first() != want {
		t.Errorf("backup: first line %q, want the start %q", lines.first(), want)
	}
	if len(progress) == 0 {
		t.Errorf("backup: no progress callback")
	}
	// restic's own CPU time, apart from its wall time (#15).
	if first.UserTime <= 0 || first.SystemTime < 0 || !strings.Contains(logs.String(), "cpu_user=") {
		t.Errorf("backup: restic's CPU time user %s sys %s not reported (or not logged)", first.UserTime, first.SystemTime)
	}
	for _, p := range progress {
		if p.Percent < 0 || p.Percent > 100 || p.FilesDone > p.FilesTotal && p.FilesTotal > 0 {
			t.Errorf("backup: implausible progress %+v", p)
		}
	}
	snapID := first.Summary.SnapshotID

	snaps := mustRun(t, r, Op{Kind: topics.JobSnapshots, Repository: repo})
	if snaps.Outcome != OutcomeSucceeded || len(snaps.Snapshots) != 1 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	s := snaps.Snapshots[0]
	if s.ID != snapID || s.Hostname != "test-host" || !slices.Equal(s.Tags, []string{"nightly"}) || !slices.Equal(s.Paths, []string{src}) {
		t.Errorf("snapshots: got %+v, want ID %s host test-host tag nightly path %s", s, snapID, src)
	}

	if err := os.WriteFile(filepath.Join(src, files[0]), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{src}, Excludes: []string{"*.tmp"}, Host: "test-host"}})
	if second.Outcome != OutcomeSucceeded || second.Summary == nil || second.Summary.FilesChanged != 1 {
		t.Fatalf("second backup: %+v", second)
	}

	target := t.TempDir()
	restored := mustRun(t, r, Op{Kind: topics.JobRestore, Repository: repo, Restore: RestoreOptions{SnapshotID: "latest", Target: target, Include: []string{filepath.Join(src, "da")}}})
	if restored.Outcome != OutcomeSucceeded {
		t.Fatalf("restore: %+v", restored)
	}
	want := map[string][32]byte{}
	for name, sum := range treeDigest(t, src) {
		if strings.HasPrefix(name, "da"+string(filepath.Separator)) {
			want[filepath.Join(strings.TrimPrefix(src, string(filepath.Separator)), name)] = sum
		}
	}
	if got := treeDigest(t, target); !maps.Equal(got, want) {
		t.Errorf("restore: restored files differ: got %d files, want %d", len(got), len(want))
	}

	dry := mustRun(t, r, Op{Kind: topics.JobForget, Repository: repo, Forget: ForgetOptions{Retention: topics.Retention{Last: 1}, DryRun: true}})
	if dry.Outcome != OutcomeSucceeded || !slices.Equal(RemovedIDs(dry.Forget), []string{snapID}) {
		t.Fatalf("forget dry run: want %s listed for removal, got %+v", snapID, dry.Forget)
	}
	if n := len(mustRun(t, r, Op{Kind: topics.JobSnapshots, Repository: repo}).Snapshots); n != 2 {
		t.Fatalf("after dry run: %d snapshots, want 2", n)
	}
	forget := mustRun(t, r, Op{Kind: topics.JobForget, Repository: repo, Forget: ForgetOptions{Retention: topics.Retention{Last: 1}}})
	if forget.Outcome != OutcomeSucceeded || !slices.Equal(RemovedIDs(forget.Forget), []string{snapID}) {
		t.Fatalf("forget: %+v", forget)
	}
	left := mustRun(t, r, Op{Kind: topics.JobSnapshots, Repository: repo}).Snapshots
	if len(left) != 1 || left[0].ID != second.Summary.SnapshotID {
		t.Fatalf("after forget: snapshots %+v, want only %s", left, second.Summary.SnapshotID)
	}

	for _, op := range []Op{
		{Kind: topics.JobPrune, Repository: repo},
		{Kind: topics.JobCheck, Repository: repo, Check: CheckOptions{ReadDataSubset: "10%"}},
		{Kind: topics.JobCheck, Repository: repo},
		{Kind: topics.JobUnlock, Repository: repo},
	} {
		res := mustRun(t, r, op)
		if res.Outcome != OutcomeSucceeded || res.ExitCode != 0 {
			t.Errorf("%s %v: %+v", op.Kind, res.Args, res)
		}
		if op.Kind == topics.JobCheck && res.CheckSummary != nil && res.CheckSummary.NumErrors != 0 {
			t.Errorf("check: %+v", res.CheckSummary)
		}
	}

	if strings.Contains(logs.String(), testPassword) || strings.Contains(lines.String(), testPassword) {
		t.Errorf("the password leaked into a log")
	}
}
