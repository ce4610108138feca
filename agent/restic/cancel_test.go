package restic

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TestCancelBackup cancels a real backup after its first progress report.
// The upload limit keeps restic busy for seconds (restic applies it to a
// local repository too), so the cancel lands mid-backup without a large
// data set. restic must stop on SIGINT, remove its lock, and leave a
// repository that check accepts without an unlock.
func TestCancelBackup(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t)
	repo := initRepo(t, r)
	src := t.TempDir()
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	start := time.Now()
	res, err := r.Run(ctx, Op{
		Kind: topics.JobBackup, Repository: repo,
		Backup:     BackupOptions{Paths: []string{src}},
		Bandwidth:  topics.Bandwidth{UpKBps: 512},
		OnProgress: func(Progress) { once.Do(cancel) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeCanceled || res.Reason != ReasonCanceled {
		t.Fatalf("got outcome %s, reason %q, exit %d (after %v)", res.Outcome, res.Reason, res.ExitCode, time.Since(start))
	}
	if locks := lockFiles(t, repo.URL); len(locks) != 0 {
		t.Errorf("restic left locks %v after SIGINT", locks)
	}
	if res := mustRun(t, r, Op{Kind: topics.JobCheck, Repository: repo}); res.Outcome != OutcomeSucceeded {
		t.Errorf("check after cancel: %+v", res)
	}
	if n := len(mustRun(t, r, Op{Kind: topics.JobSnapshots, Repository: repo}).Snapshots); n != 0 {
		t.Errorf("canceled backup left %d snapshots", n)
	}
}

// TestCancelKillsAfterGrace: a restic that ignores SIGINT is killed when
// the grace period runs out. The real restic always honours SIGINT, so a
// script that ignores it stands in.
func TestCancelKillsAfterGrace(t *testing.T) {
	t.Parallel()
	bin := fakeBinary(t, `trap '' INT
echo '{"message_type":"status","percent_done":0.1}'
exec sleep 60`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &Runner{Binary: bin, CancelGrace: 300 * time.Millisecond}
	start := time.Now()
	res, err := r.Run(ctx, Op{
		Kind: topics.JobBackup, Repository: repoAt("/srv/repo"), Backup: BackupOptions{Paths: []string{"/srv"}},
		OnProgress: func(Progress) { cancel() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeCanceled || res.ExitCode != -1 {
		t.Fatalf("got outcome %s, exit %d", res.Outcome, res.ExitCode)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("Run took %v: the kill after the grace period did not happen", took)
	}
}

// TestCanceledBeforeStart: a context already done runs nothing.
func TestCanceledBeforeStart(t *testing.T) {
	t.Parallel()
	bin := fakeBinary(t, `echo ran; exit 0`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lines := &lineLog{}
	res, err := (&Runner{Binary: bin}).Run(ctx, Op{Kind: topics.JobUnlock, Repository: repoAt("/srv/repo"), OnLine: lines.add})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeCanceled || lines.String() != "" {
		t.Fatalf("got outcome %s, lines %q", res.Outcome, lines)
	}
}
