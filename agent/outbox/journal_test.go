package outbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openJournalT(t testing.TB, path string, opts JournalOptions) *Journal {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	j, err := OpenJournal(path, opts)
	if err != nil {
		t.Fatalf("OpenJournal: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestJournalDuplicateAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "journal")
	j := openJournalT(t, path, JournalOptions{})
	if already, err := j.Begin("cmd-1", []byte(`{"job":"j1"}`)); err != nil || already != nil {
		t.Fatalf("first Begin = %v, %v", already, err)
	}
	if err := j.Finish("cmd-1", []byte(`{"state":"succeeded"}`)); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j = openJournalT(t, path, JournalOptions{})
	already, err := j.Begin("cmd-1", []byte(`{"job":"j1"}`))
	if err != nil || already == nil {
		t.Fatalf("duplicate Begin after reopen = %v, %v", already, err)
	}
	if !already.Done || string(already.Outcome) != `{"state":"succeeded"}` || string(already.Detail) != `{"job":"j1"}` {
		t.Fatalf("duplicate Begin returned %+v", already)
	}
	// A duplicate of a command still running says so.
	j.Begin("cmd-2", nil)
	if already, _ := j.Begin("cmd-2", nil); already == nil || already.Done {
		t.Fatalf("duplicate of a running command: %+v", already)
	}
}

func TestJournalRunningAfterUncleanStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := OpenJournal(path, JournalOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := j.Begin(id, []byte("job-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	j.Finish("b", []byte("ok"))
	// No Close: the process died. (The subprocess test kills a real one.)
	j2 := openJournalT(t, path, JournalOptions{})
	running := j2.Running()
	if len(running) != 2 || running[0].ID != "a" || running[1].ID != "c" || string(running[0].Detail) != "job-a" {
		t.Fatalf("Running = %+v", running)
	}
	// The agent reports them interrupted and finishes them.
	for _, r := range running {
		if err := j2.Finish(r.ID, []byte("interrupted")); err != nil {
			t.Fatal(err)
		}
	}
	if r := j2.Running(); len(r) != 0 {
		t.Fatalf("Running after finishing = %+v", r)
	}
	j.Close()
}

func TestJournalFinishRules(t *testing.T) {
	j := openJournalT(t, filepath.Join(t.TempDir(), "journal"), JournalOptions{})
	if err := j.Finish("nope", nil); err == nil || !strings.Contains(err.Error(), "Begin it first") {
		t.Fatalf("Finish of an unknown command: %v", err)
	}
	j.Begin("x", nil)
	j.Finish("x", []byte("first"))
	if err := j.Finish("x", []byte("second")); err == nil {
		t.Fatal("second Finish accepted")
	}
	if r, _ := j.Lookup("x"); string(r.Outcome) != "first" {
		t.Fatalf("outcome changed to %q", r.Outcome)
	}
	for _, id := range []string{"", strings.Repeat("i", MaxCommandID+1)} {
		if _, err := j.Begin(id, nil); err == nil {
			t.Fatalf("Begin(%q) accepted", id)
		}
	}
	if _, err := j.Begin("big", make([]byte, MaxDetail+1)); err == nil {
		t.Fatal("oversized detail accepted")
	}
}

func TestJournalExpiresFinishedRecords(t *testing.T) {
	old := journalRewriteSlack
	journalRewriteSlack = 256
	t.Cleanup(func() { journalRewriteSlack = old })
	path := filepath.Join(t.TempDir(), "journal")
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := JournalOptions{Keep: 48 * time.Hour, now: func() time.Time { return now }}
	j := openJournalT(t, path, opts)
	for i := range 100 {
		id := "old-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		j.Begin(id, make([]byte, 100))
		j.Finish(id, make([]byte, 100))
	}
	j.Begin("still-running", nil)
	fi, _ := os.Stat(path)
	big := fi.Size()

	now = now.Add(72 * time.Hour)
	j.Begin("new", nil) // due for a sweep: the old ones go, the file shrinks
	if _, ok := j.Lookup("old-Aa"); ok {
		t.Fatal("finished record older than Keep still there")
	}
	if _, ok := j.Lookup("still-running"); !ok {
		t.Fatal("a running record expired")
	}
	fi, _ = os.Stat(path)
	if fi.Size() >= big/10 {
		t.Fatalf("journal file is %d bytes after expiry, was %d", fi.Size(), big)
	}
	j.Close()
	j = openJournalT(t, path, opts)
	if r := j.Running(); len(r) != 2 || r[0].ID != "still-running" || r[1].ID != "new" {
		t.Fatalf("Running after rewrite and reopen = %+v", r)
	}
	if _, ok := j.Lookup("old-Ba"); ok {
		t.Fatal("expired record back after reopen")
	}
}

func TestJournalTornTail(t *testing.T) {
	src := filepath.Join(t.TempDir(), "journal")
	j := openJournalT(t, src, JournalOptions{})
	j.Begin("a", []byte("detail"))
	fi, _ := os.Stat(src)
	before := fi.Size()
	j.Begin("b", []byte("detail"))
	j.Close()
	fi, _ = os.Stat(src)
	for cut := before; cut < fi.Size(); cut++ {
		dir := copyDir(t, filepath.Dir(src))
		path := filepath.Join(dir, "journal")
		os.Truncate(path, cut)
		j := openJournalT(t, path, JournalOptions{})
		if r := j.Running(); len(r) != 1 || r[0].ID != "a" {
			t.Fatalf("cut at %d: Running = %+v", cut, r)
		}
		// "b" was never promised: it may begin now.
		if already, err := j.Begin("b", nil); err != nil || already != nil {
			t.Fatalf("cut at %d: Begin(b) = %v, %v", cut, already, err)
		}
		j.Close()
	}
}
