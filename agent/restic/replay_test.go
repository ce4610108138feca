package restic

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// versions are the restic releases whose output is captured in testdata
// (by testdata/capture.sh): Debian 12's 0.14.0 and the current 0.18.1.
var versions = []string{"restic-0.14.0", "restic-0.18.1"}

// replay feeds a captured run through the same session and classification
// the Runner uses, as if restic had just printed it.
func replay(t *testing.T, version, name string, kind topics.JobKind) (*Result, *lineLog) {
	t.Helper()
	dir := filepath.Join("testdata", version)
	read := func(ext string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name+ext))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return data
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(read(".exit"))))
	if err != nil {
		t.Fatalf("%s/%s.exit: %v", dir, name, err)
	}
	lines := &lineLog{}
	op := Op{Kind: kind, Repository: repoAt("/srv/r"), OnLine: lines.add, OnProgress: func(Progress) {}}
	sess := newSession(kind, op, time.Now())
	for _, stream := range []struct {
		s    Stream
		data []byte
	}{{StreamStdout, read(".stdout")}, {StreamStderr, read(".stderr")}} {
		w := newLineWriter(stream.s, maxDecodeLine, sess.handle)
		// Odd-sized writes, as pipes deliver them.
		for data := stream.data; len(data) > 0; {
			n := min(len(data), 777)
			w.Write(data[:n])
			data = data[n:]
		}
		w.flush()
	}
	res := sess.result()
	res.ExitCode = code
	msg, tail, missing := sess.ending()
	v := classify(ending{kind: kind, code: code, exitMessage: msg, stderr: tail, missingSources: missing})
	res.Outcome, res.Reason, res.Detail, res.AlreadyInitialized = v.outcome, v.reason, v.detail, v.alreadyInit
	return &res, lines
}

func TestReplayCaptured(t *testing.T) {
	t.Parallel()
	for _, version := range versions {
		old := version == "restic-0.14.0"
		t.Run(version, func(t *testing.T) {
			res, _ := replay(t, version, "init", topics.JobInit)
			if res.Outcome != OutcomeSucceeded || res.RepositoryID == "" {
				t.Errorf("init: %+v", res)
			}
			res, _ = replay(t, version, "init-exists", topics.JobInit)
			if !res.AlreadyInitialized || res.Outcome != OutcomeSucceeded {
				t.Errorf("init-exists: %+v", res)
			}
			res, _ = replay(t, version, "backup", topics.JobBackup)
			if res.Outcome != OutcomeSucceeded || res.Summary == nil || res.Summary.FilesNew != 12 || res.Summary.SnapshotID == "" {
				t.Errorf("backup: %+v summary %+v", res, res.Summary)
			}
			res, _ = replay(t, version, "backup-warning", topics.JobBackup)
			if res.Outcome != OutcomeWarning || res.Reason != ReasonIncomplete || len(res.Errors) != 2 {
				t.Errorf("backup-warning: %+v", res)
			}
			for _, e := range res.Errors {
				if e.Item != "/proc/self/mem" && !strings.HasSuffix(e.Item, "/missing") || e.Message == "" {
					t.Errorf("backup-warning: unexpected error %+v", e)
				}
				if e.Item == "/proc/self/mem" && !strings.Contains(e.Message, "input/output error") {
					t.Errorf("backup-warning: error message %q lacks the cause", e.Message)
				}
			}
			res, lines := replay(t, version, "snapshots", topics.JobSnapshots)
			if len(res.Snapshots) != 3 || !strings.Contains(lines.String(), "[restic listed 3 snapshots]") {
				t.Errorf("snapshots: %d decoded; log %s", len(res.Snapshots), lines)
			}
			for _, s := range res.Snapshots {
				if len(s.ID) != 64 || len(s.ShortID) != 8 || s.Time.IsZero() || (s.Summary == nil) != old {
					t.Errorf("snapshot %+v", s)
				}
			}
			for _, name := range []string{"forget-dry-run", "forget-prune"} {
				res, lines = replay(t, version, name, topics.JobForget)
				if res.Outcome != OutcomeSucceeded || len(res.Forget) != 2 || len(RemovedIDs(res.Forget)) != 1 {
					t.Errorf("%s: %+v", name, res.Forget)
				}
				for _, g := range res.Forget {
					if len(g.Reasons) != len(g.Keep) {
						t.Errorf("%s: reasons %+v for keep %d", name, g.Reasons, len(g.Keep))
					}
				}
				if !strings.Contains(lines.String(), "[forget] host") {
					t.Errorf("%s: no readable forget line in %s", name, lines)
				}
			}
			res, _ = replay(t, version, "check", topics.JobCheck)
			if res.Outcome != OutcomeSucceeded || (res.CheckSummary == nil) != old {
				t.Errorf("check: %+v", res)
			}
			res, _ = replay(t, version, "restore", topics.JobRestore)
			if res.Outcome != OutcomeSucceeded || (res.RestoreSummary == nil) != old {
				t.Errorf("restore: %+v", res)
			}
			for name, want := range map[string]string{"wrong-password": ReasonWrongPassword, "no-repository": ReasonNoRepository, "locked": ReasonLocked} {
				res, _ = replay(t, version, name, topics.JobPrune)
				if res.Outcome != OutcomeFailed || res.Reason != want || res.Detail == "" {
					t.Errorf("%s: got %s %q (detail %q), want %q", name, res.Outcome, res.Reason, res.Detail, want)
				}
			}
		})
	}
}

func TestDecodeOldErrorShapes(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		`{"message_type":"error","error":{"message":"boom"},"during":"archival","item":"/x"}`: "boom",
		`{"message_type":"error","error":{"Op":"open","Path":"/x","Err":2},"item":"/x"}`:      "open /x: no such file or directory",
		`{"message_type":"error","error":{},"during":"scan","item":"/x"}`:                     "unknown error (this restic version does not report details)",
		`{"message_type":"error","error":"plain","item":"/x"}`:                                "plain",
		`{"message_type":"error","message":"check found a damaged pack"}`:                     "check found a damaged pack",
	} {
		ev := decodeLine(topics.JobBackup, []byte(line))
		if ev.typ != "error" || ev.itemErr == nil || ev.itemErr.Message != want {
			t.Errorf("%s: got %+v, want message %q", line, ev.itemErr, want)
		}
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"\x1b[2Ksignal interrupt received, cleaning up": "signal interrupt received, cleaning up",
		"10%\r20%\r":         "20%",
		"a\tb\x00c\x7f":      "a\tbc",
		"\x1b]0;title\x07ok": "ok",
		"bad \xff utf8":      "bad \uFFFD utf8",
	} {
		if got := sanitize([]byte(in)); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLineWriterDropsOverlongLines(t *testing.T) {
	t.Parallel()
	var got []string
	w := newLineWriter(StreamStdout, 10, func(_ Stream, b []byte) { got = append(got, string(b)) })
	w.Write([]byte("short\n0123456789abc"))
	w.Write([]byte("def\nlast"))
	w.flush()
	want := []string{"short", "[restic printed a line of 16 bytes, too long to keep; it was dropped]", "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	th := throttle{interval: time.Second}
	t0 := time.Unix(1000, 0)
	var passed []int
	for i, ms := range []int{0, 100, 999, 1000, 1500, 2001, 2002} {
		if th.allow(t0.Add(time.Duration(ms) * time.Millisecond)) {
			passed = append(passed, i)
		}
	}
	if want := []int{0, 3, 5}; !slices.Equal(passed, want) {
		t.Errorf("passed %v, want %v", passed, want)
	}
}

func TestProgressFromStatus(t *testing.T) {
	t.Parallel()
	rem := uint64(30)
	p := progressFrom(topics.JobBackup, &statusMsg{PercentDone: 0.25, SecondsElapsed: 10, SecondsRemaining: &rem, TotalFiles: 8, FilesDone: 2, TotalBytes: 400, BytesDone: 100, CurrentFiles: []string{"/a", "/b"}}, 0)
	if p.Percent != 25 || p.ETASeconds != 30 || p.FilesDone != 2 || p.BytesTotal != 400 || p.CurrentFile != "/a" {
		t.Errorf("backup: %+v", p)
	}
	p = progressFrom(topics.JobRestore, &statusMsg{PercentDone: 0.5, FilesRestored: 3, BytesRestored: 7}, 20*time.Second)
	if p.FilesDone != 3 || p.BytesDone != 7 || p.ElapsedSeconds != 20 || p.ETASeconds != 20 {
		t.Errorf("restore (no remaining from restic): %+v", p)
	}
	p = progressFrom(topics.JobBackup, &statusMsg{PercentDone: 7}, 0)
	if p.Percent != 100 || p.ETASeconds != 0 {
		t.Errorf("clamped: %+v", p)
	}
}

// restic prints status up to 60 times a second; only the one due each
// ProgressInterval is decoded and passed on, the others are dropped
// unread (#15: the agent's cost of reading restic's output) — a broken one
// too, which is no log line either.
func TestSessionReadsOnlyDueStatus(t *testing.T) {
	t.Parallel()
	var got []float64
	lines := &lineLog{}
	op := Op{Kind: topics.JobBackup, Repository: repoAt("/srv/r"), OnLine: lines.add, OnProgress: func(p Progress) { got = append(got, p.Percent) }}
	t0 := time.Unix(1000, 0)
	sess := newSession(topics.JobBackup, op, t0)
	for _, l := range []struct {
		ms   int
		line string
	}{
		{0, `{"message_type":"status","percent_done":0.1}`},
		{500, `{"message_type":"status","percent_done":0.2}`},
		{700, `{"message_type":"status","percent_done":0.3,` + "\x00broken"},
		{1000, `{"message_type":"status","percent_done":0.4}`},
		{1200, `not json at all`},
	} {
		sess.now = func() time.Time { return t0.Add(time.Duration(l.ms) * time.Millisecond) }
		sess.handle(StreamStdout, []byte(l.line))
	}
	if !slices.Equal(got, []float64{10, 40}) {
		t.Errorf("progress %v, want [10 40]", got)
	}
	if want := "stdout: not json at all"; lines.String() != want {
		t.Errorf("log %q, want %q", lines.String(), want)
	}
}
