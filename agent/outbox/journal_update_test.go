package outbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestJournalUpdateSurvivesReopenAndLatestWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j := openJournalT(t, path, JournalOptions{})
	j.Begin("a", []byte("cmd-a"))
	j.Begin("b", []byte("cmd-b"))
	for _, st := range []string{`{"lines":1}`, `{"lines":7}`, `{"started":true,"lines":9}`} {
		if err := j.Update("a", []byte(st)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close() // or a crash: every Update returned after its fsync

	j = openJournalT(t, path, JournalOptions{})
	running := j.Running()
	if len(running) != 2 || string(running[0].State) != `{"started":true,"lines":9}` || running[0].Updated.IsZero() ||
		running[1].State != nil || string(running[0].Detail) != "cmd-a" {
		t.Fatalf("Running = %+v", running)
	}
	// Finish drops the state; an Update after it is refused.
	if err := j.Finish("a", []byte("done")); err != nil {
		t.Fatal(err)
	}
	if r, _ := j.Lookup("a"); r.State != nil || !r.Done {
		t.Fatalf("finished record %+v", r)
	}
	if err := j.Update("a", []byte("late")); err == nil || !strings.Contains(err.Error(), "finished") {
		t.Fatalf("Update after Finish: %v", err)
	}
	if err := j.Update("nope", nil); err == nil || !strings.Contains(err.Error(), "Begin it first") {
		t.Fatalf("Update of an unknown command: %v", err)
	}
	if err := j.Update("b", make([]byte, MaxDetail+1)); err == nil {
		t.Fatal("oversized state accepted")
	}
	j.Close()
	j = openJournalT(t, path, JournalOptions{})
	if r, _ := j.Lookup("a"); r.State != nil || string(r.Outcome) != "done" {
		t.Fatalf("after reopen: %+v", r)
	}
}

// Many updates of a long job make the file bloated; the rewrite keeps only
// the latest state, and the file stays small.
func TestJournalRewriteKeepsLatestState(t *testing.T) {
	old := journalRewriteSlack
	journalRewriteSlack = 512
	t.Cleanup(func() { journalRewriteSlack = old })
	path := filepath.Join(t.TempDir(), "journal")
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	j := openJournalT(t, path, JournalOptions{now: func() time.Time { return now }})
	j.Begin("job", []byte("cmd"))
	var last string
	for i := range 2000 {
		last = strings.Repeat("x", i%50)
		if err := j.Update("job", []byte(last)); err != nil {
			t.Fatal(err)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Size() > 4096 {
		t.Fatalf("journal is %d bytes after 2000 updates of one job", fi.Size())
	}
	j.Close()
	j = openJournalT(t, path, JournalOptions{})
	if r := j.Running(); len(r) != 1 || string(r[0].State) != last || string(r[0].Detail) != "cmd" {
		t.Fatalf("Running after rewrite = %+v", r)
	}
}

func TestJournalTornUpdate(t *testing.T) {
	src := filepath.Join(t.TempDir(), "journal")
	j := openJournalT(t, src, JournalOptions{})
	j.Begin("a", []byte("detail"))
	j.Update("a", []byte("first"))
	fi, _ := os.Stat(src)
	before := fi.Size()
	j.Update("a", []byte("second"))
	j.Close()
	fi, _ = os.Stat(src)
	for cut := before; cut < fi.Size(); cut++ {
		dir := copyDir(t, filepath.Dir(src))
		path := filepath.Join(dir, "journal")
		os.Truncate(path, cut)
		j := openJournalT(t, path, JournalOptions{})
		if r := j.Running(); len(r) != 1 || string(r[0].State) != "first" {
			t.Fatalf("cut at %d: Running = %+v", cut, r)
		}
		j.Close()
	}
}
