package restic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// TestLs: the real restic lists the latest snapshot of a tag, node by
// node, with the snapshot it chose; a filter nothing matches and an
// invalid query fail with a reason; a restic that prints no JSON listing
// is too old.
func TestLs(t *testing.T) {
	requireRestic(t)
	r, _ := newRunner(t)
	repo := initRepo(t, r)
	src := t.TempDir()
	rel := genTree(t, src, 12, 2000)
	mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{src}, Tags: []string{"rm-group:sg_1"}}})
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	last := mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{other}}})

	t.Run("latest of a tag", func(t *testing.T) {
		files := map[string]Node{}
		res, err := r.Ls(context.Background(), LsQuery{Repository: repo, Snapshot: "latest", Tags: []string{"rm-group:sg_1"}}, func(n Node) {
			if n.Type == "file" {
				files[n.Path] = n
			}
		})
		if err != nil || res.Outcome != OutcomeSucceeded {
			t.Fatalf("ls: %v %+v", err, res)
		}
		if len(res.Snapshots) != 1 || res.Snapshots[0].ID == last.Summary.SnapshotID || !slices.Contains(res.Snapshots[0].Tags, "rm-group:sg_1") {
			t.Fatalf("listed snapshot %+v, want the tagged one", res.Snapshots)
		}
		if len(files) != len(rel) {
			t.Fatalf("%d files listed, want %d", len(files), len(rel))
		}
		for _, p := range rel {
			full := filepath.Join(src, p)
			n, ok := files[filepath.ToSlash(full)]
			fi, err := os.Stat(full)
			if !ok || err != nil || n.Size != uint64(fi.Size()) || !n.Mtime.Equal(fi.ModTime()) {
				t.Fatalf("%s: node %+v (listed %v), file %v %v", full, n, ok, fi, err)
			}
		}
	})
	t.Run("no such snapshot", func(t *testing.T) {
		res, err := r.Ls(context.Background(), LsQuery{Repository: repo, Snapshot: "latest", Host: "no-such-host"}, func(Node) {
			t.Fatal("a node of no snapshot")
		})
		if err != nil || res.Outcome != OutcomeFailed || len(res.Snapshots) != 0 {
			t.Fatalf("ls of nothing: %v %+v", err, res)
		}
	})
	t.Run("invalid query", func(t *testing.T) {
		for _, q := range []LsQuery{
			{Repository: repo, Snapshot: "last"},
			{Repository: repo, Snapshot: "latest", Host: "a b"},
			{Repository: repo, Snapshot: "latest", Tags: []string{"a,b"}},
			{Repository: Repository{URL: "relative/path", Password: "x"}, Snapshot: "latest"},
		} {
			if _, err := r.Ls(context.Background(), q, func(Node) {}); !errors.Is(err, ErrInvalidOp) {
				t.Errorf("%+v: %v, want ErrInvalidOp", q, err)
			}
		}
	})
	t.Run("text only", func(t *testing.T) {
		old := &Runner{Binary: fakeBinary(t, "echo 'snapshot 1234abcd of [/srv]:'\necho /srv\n")}
		res, err := old.Ls(context.Background(), LsQuery{Repository: repo, Snapshot: "latest"}, func(Node) { t.Fatal("a node from text") })
		if err != nil || res.Outcome != OutcomeFailed || res.Reason == "" {
			t.Fatalf("text listing: %v %+v", err, res)
		}
	})
}
