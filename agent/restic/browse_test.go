package restic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TestBrowseStopsAtCap: a search whose output never ends (a repository of
// endless snapshots) stops at the cap: the matches kept, truncated, and
// restic stopped long before the deadline.
func TestBrowseStopsAtCap(t *testing.T) {
	t.Parallel()
	snap := strings.Repeat("ab", 32)
	bin := fakeBinary(t, fmt.Sprintf(`printf '['
i=0
while true; do
  printf '{"matches":[{"path":"/f%%d","type":"file","size":1,"mtime":"2026-01-01T00:00:00Z"},{"path":"/g%%d","type":"file","size":2,"mtime":"2026-01-01T00:00:00Z"}],"hits":2,"snapshot":"%s"},' $i $i
  i=$((i+1))
done
`, snap))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var matches []topics.FindMatch
	var truncated bool
	err := (&Runner{Binary: bin}).Browse(ctx, repoAt("/srv/repo"), []string{"find", "--json", "--", "*"}, 0,
		func(r io.Reader) (err error) {
			matches, truncated, err = ScanFind(r, 25)
			return err
		})
	if err != nil || ctx.Err() != nil {
		t.Fatalf("err = %v (deadline passed: %v), want a clean early stop", err, ctx.Err())
	}
	if len(matches) != 25 || !truncated || matches[24].Path != "/f12" || matches[0].Snapshot != snap {
		t.Fatalf("got %d matches (truncated %v, last %+v), want the first 25 and truncated", len(matches), truncated, matches[len(matches)-1])
	}
}

// TestBrowseFailures: restic's failures become one sentence and a kind.
func TestBrowseFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, script, kind, says string
	}{
		{"old restic", "echo 'unknown flag: --json' >&2; exit 1", topics.ReplyErrUnsupported, "too old"},
		{"no snapshot", `echo '{"message_type":"exit_error","code":1,"message":"Fatal: no matching ID found for prefix \"0123abcd\""}' >&2; exit 1`,
			topics.ReplyErrNotFound, "does not exist"},
		{"locked", "echo 'unable to create lock in backend: repository is already locked exclusively' >&2; exit 11", topics.ReplyErrBusy, "locked"},
		{"password", "echo 'Fatal: wrong password or no key found' >&2; exit 12", topics.ReplyErrFailed, "password"},
		{"other", "echo 'Fatal: something odd happened' >&2; exit 1", topics.ReplyErrFailed, "something odd happened"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := (&Runner{Binary: fakeBinary(t, c.script)}).Browse(t.Context(), repoAt("/srv/repo"), []string{"diff", "--json", "a", "b"}, 0,
				func(r io.Reader) error { _, err := ScanDiff(r, 10); return err })
			var be *BrowseError
			if !errors.As(err, &be) || be.Kind != c.kind || !strings.Contains(be.Message, c.says) {
				t.Fatalf("err = %#v, want kind %s saying %q", err, c.kind, c.says)
			}
		})
	}
}

// TestBrowseRealRestic lists one folder of a real snapshot with the real
// restic: the folder itself, its children (not deeper), all counted.
func TestBrowseRealRestic(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t)
	repo := initRepo(t, r)
	src := t.TempDir()
	for i := range 1200 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%04d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"zdir", "adir/deeper"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if res := mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{src}}}); res.Outcome != OutcomeSucceeded {
		t.Fatalf("backup: %+v", res)
	}
	dir := filepath.ToSlash(src)
	var l *Listing
	err := r.Browse(t.Context(), repo, []string{"ls", "--json", "--", "latest", dir}, 0, func(out io.Reader) (err error) {
		l, err = ScanLs(out, dir, 1000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Self == nil || l.Self.Type != "dir" || l.Total != 1202 || len(l.Children) != 1000 {
		t.Fatalf("listing: self %+v, total %d, kept %d; want the folder, 1202 children, 1000 kept", l.Self, l.Total, len(l.Children))
	}
	if locks := lockFiles(t, repo.URL); len(locks) != 0 {
		t.Errorf("ls left locks %v", locks)
	}
}
