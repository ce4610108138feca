package restic

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// feed passes lines through a session as restic's output on stream.
func feed(t *testing.T, op Op, stream Stream, lines ...string) (*session, *lineLog) {
	t.Helper()
	log := &lineLog{}
	op.Repository, op.OnLine = repoAt("/srv/r"), log.add
	sess := newSession(op.Kind, op, time.Now())
	for _, l := range lines {
		sess.handle(stream, []byte(l))
	}
	return sess, log
}

// restic's JSON reaches the log as words or not at all (the summary and
// "initialized" the agent says itself; per-item lines are counted).
func TestSessionLogsNoJSON(t *testing.T) {
	t.Parallel()
	_, log := feed(t, Op{Kind: topics.JobBackup}, StreamStdout,
		`{"message_type":"status","percent_done":0.5}`,
		`{"message_type":"summary","files_new":1,"snapshot_id":"`+strings.Repeat("ab", 32)+`"}`)
	if got := log.String(); got != "" {
		t.Errorf("backup summary logged: %q", got)
	}
	_, log = feed(t, Op{Kind: topics.JobBackup}, StreamStderr,
		`{"message_type":"error","error":{"message":"open /srv/x: permission denied"},"during":"archival","item":"/srv/x"}`,
		`{"message_type":"error","error":{"message":"permission denied"},"during":"archival","item":"/srv/y"}`,
		`{"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found\nsecond line\n"}`)
	want := "stderr: error: open /srv/x: permission denied\nstderr: error: /srv/y: permission denied\n" +
		"stderr: Fatal: wrong password or no key found\nstderr: second line"
	if got := log.String(); got != want {
		t.Errorf("errors logged as\n%s\nwant\n%s", got, want)
	}
	_, log = feed(t, Op{Kind: topics.JobInit}, StreamStdout, `{"message_type":"initialized","id":"`+strings.Repeat("cd", 32)+`","repository":"/srv/r"}`)
	if got := log.String(); got != "" {
		t.Errorf("init logged %q", got)
	}
}

// A restore's verbose_status lines count files and folders apart, by what
// the restored item is on disk.
func TestSessionCountsRestoredItems(t *testing.T) {
	t.Parallel()
	target := t.TempDir()
	if err := os.MkdirAll(filepath.Join(target, "src", "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"src/a/f.txt", "src/a/empty", "src/kept"} {
		if err := os.WriteFile(filepath.Join(target, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sess, log := feed(t, Op{Kind: topics.JobRestore, Restore: RestoreOptions{Target: target}}, StreamStdout,
		`{"message_type":"verbose_status","action":"restored","item":"/src/a/f.txt","size":3}`,
		`{"message_type":"verbose_status","action":"restored","item":"/src/a/empty","size":0}`,
		`{"message_type":"verbose_status","action":"unchanged","item":"/src/kept","size":5}`,
		`{"message_type":"verbose_status","action":"restored","item":"/src/a","size":0}`,
		`{"message_type":"verbose_status","action":"restored","item":"/src","size":0}`,
		`{"message_type":"summary","total_files":4,"files_restored":4,"files_skipped":1,"total_bytes":3,"bytes_restored":3}`)
	res := sess.result()
	if c := res.Restored; c == nil || *c != (RestoreCount{Files: 2, Dirs: 2, Unchanged: 1}) {
		t.Errorf("counted %+v", c)
	}
	if res.RestoreSummary == nil || res.RestoreSummary.FilesRestored != 4 || log.String() != "" {
		t.Errorf("summary %+v, log %q", res.RestoreSummary, log.String())
	}
}

// A backup none of whose paths exist fails with one sentence naming them,
// whether restic says so in an exit_error (0.17+) or on stderr (before).
func TestClassifyNoSourcePaths(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		e       ending
		reason  string
		outcome Outcome
	}{
		{"restic 0.18", ending{kind: topics.JobBackup, code: 1, exitMessage: "Fatal: all source directories/files do not exist",
			missingSources: []string{"/x"}}, "path /x does not exist on this host, so nothing was backed up", OutcomeFailed},
		{"restic 0.14", ending{kind: topics.JobBackup, code: 1, stderr: []string{"/x does not exist, skipping", "/y does not exist, skipping",
			"Fatal: all target directories/files do not exist"}, missingSources: []string{"/x", "/y"}},
			"paths /x and /y do not exist on this host, so nothing was backed up", OutcomeFailed},
		{"many", ending{kind: topics.JobBackup, code: 1, exitMessage: "Fatal: all source directories/files do not exist",
			missingSources: []string{"/a", "/b", "/c", "/d"}}, "paths /a, /b and 2 more do not exist on this host, so nothing was backed up", OutcomeFailed},
		{"some exist", ending{kind: topics.JobBackup, code: 0, missingSources: []string{"/x"}}, ReasonMissingSources, OutcomeWarning},
	} {
		v := classify(c.e)
		if v.outcome != c.outcome || v.reason != c.reason || (c.outcome == OutcomeFailed && v.detail != "") {
			t.Errorf("%s: %+v, want %s %q and no detail", c.name, v, c.outcome, c.reason)
		}
	}
}
