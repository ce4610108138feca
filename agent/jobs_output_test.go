package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// A restore says how many files and how many folders it wrote, in the log
// and in the result, though restic's summary counts folders as files (and
// restoring one file said "4 of 1 files"). The log holds no raw JSON.
func TestJobRestoreCountsFilesAndFolders(t *testing.T) {
	e := newJobEnv(t)
	e.startConfigured()
	src := t.TempDir()
	file := filepath.Join(src, "a", "b", "f.txt")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]string{file: "hi\n", filepath.Join(src, "other.txt"): "hello"} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := e.srv.waitTerminal(e.srv.run(backupSpec(src), 1)).Result.SnapshotID

	// One file: restic restores it and every folder above it (from /).
	target := t.TempDir()
	folders := strings.Count(filepath.Dir(file), string(filepath.Separator))
	one := e.srv.run(topics.JobSpec{Kind: topics.JobRestore, Snapshot: snap, Target: target, Include: []string{file}}, 1)
	ev := e.srv.waitTerminal(one)
	r := ev.Result
	if ev.State != topics.JobSucceeded || r.FilesRestored != 1 || r.DirsRestored != uint64(folders) || r.BytesRestored != 3 ||
		r.ItemsRestored != 0 || r.FilesUnchanged != 0 {
		t.Fatalf("restore of one file: %+v %+v", ev, r)
	}
	// (The job may wait for the snapshot listing after the backup.)
	wantLog := regexp.MustCompile(`^(agent: waiting for its turn: .*\n)?agent: restic ` + regexp.QuoteMeta(r.ResticVersion+": restore --json --verbose=2 --target="+target+
		" --include="+file+" -- "+snap) + "\n" +
		regexp.QuoteMeta(fmt.Sprintf("agent: restored 1 file and %d folders (3 B) in ", folders)) + `\d+ s` + "\n$")
	if text := logText(e.srv.waitLogComplete(one)); !wantLog.MatchString(text) {
		t.Fatalf("log of the restore of one file:\n%s\nwant it to match %s", text, wantLog)
	}

	// Everything again, into the same target: the file already there is
	// left alone.
	all := e.srv.run(topics.JobSpec{Kind: topics.JobRestore, Snapshot: snap, Target: target}, 1)
	ev = e.srv.waitTerminal(all)
	r = ev.Result
	if ev.State != topics.JobSucceeded || r.FilesRestored != 1 || r.FilesUnchanged != 1 || r.DirsRestored != uint64(folders) || r.BytesRestored != 5 {
		t.Fatalf("restore of all: %+v %+v", ev, r)
	}
	text := logText(e.srv.waitLogComplete(all))
	if want := fmt.Sprintf("\nagent: restored 1 file and %d folders (5 B) in ", folders); !strings.Contains(text, want) ||
		!strings.Contains(text, " s; 1 file already as in the snapshot, left alone\n") || strings.Contains(text, "message_type") {
		t.Fatalf("log of the restore of all:\n%s", text)
	}
	if got, err := os.ReadFile(filepath.Join(target, src, "other.txt")); err != nil || string(got) != "hello" {
		t.Fatalf("restored other.txt: %q, %v", got, err)
	}
}

// A backup of a path that does not exist fails with one sentence naming
// it: no repeated detail, no "unreadable item", and a log of restic's
// words without JSON.
func TestJobBackupOfMissingPathFailsOnce(t *testing.T) {
	e := newJobEnv(t)
	e.startConfigured()
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	job := e.srv.run(backupSpec(missing), 1)
	ev := e.srv.waitTerminal(job)
	r := ev.Result
	if ev.State != topics.JobFailed || r.Reason != "path "+missing+" does not exist on this host, so nothing was backed up" ||
		r.Detail != "" || r.ErrorCount != 0 || r.ExitCode == nil || *r.ExitCode != 1 || r.Backup != nil || r.SnapshotID != "" {
		t.Fatalf("backup of a missing path: %+v %+v", ev, r)
	}
	want := "agent: restic " + r.ResticVersion + ": backup --json -- " + missing + "\n" +
		"err: " + missing + " does not exist, skipping\n" +
		"err: Fatal: all source directories/files do not exist\n"
	if text := logText(e.srv.waitLogComplete(job)); text != want {
		t.Fatalf("log:\n%s\nwant:\n%s", text, want)
	}
}

// checkETAs checks that no progress the server received for job carried
// an estimate of the time left before it meant something (see
// etaSeconds): restic had worked 5 s and done 1 %, not 100 %.
func checkETAs(t *testing.T, s *jobServer, job string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.progress {
		if p.Job == job && p.ETASeconds >= 0 && (p.ElapsedSeconds < 5 || p.Percent < 1 || p.Percent >= 100) {
			t.Errorf("progress with an estimate of %d s left after %d s at %.1f %%", p.ETASeconds, p.ElapsedSeconds, p.Percent)
		}
	}
}
