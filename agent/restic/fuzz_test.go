package restic

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/topics"
)

// capturedFiles returns the output restic printed in testdata (both
// versions), the seed corpus of every fuzz target here.
func capturedFiles(f *testing.F, suffixes ...string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, v := range versions {
		for _, suffix := range suffixes {
			names, err := filepath.Glob(filepath.Join("testdata", v, "*"+suffix))
			if err != nil {
				f.Fatal(err)
			}
			for _, name := range names {
				data, err := os.ReadFile(name)
				if err != nil {
					f.Fatal(err)
				}
				out = append(out, data)
			}
		}
	}
	if len(out) == 0 {
		f.Fatal("no captured restic output in testdata")
	}
	return out
}

// FuzzDecodeLine: no line, for no kind, makes the session panic or pass on
// something unfit for a log or a progress bar.
func FuzzDecodeLine(f *testing.F) {
	for _, data := range capturedFiles(f, ".stdout", ".stderr") {
		for line := range bytes.Lines(data) {
			f.Add(uint8(1), bytes.TrimSuffix(line, []byte("\n")))
		}
	}
	f.Add(uint8(0), []byte(`{"message_type":"status","percent_done":-3,"seconds_remaining":18446744073709551615}`))
	f.Add(uint8(7), []byte("\x1b[2Ksignal interrupt received, cleaning up"))
	kinds := append(topics.JobKinds(), kindCatConfig)
	f.Fuzz(func(t *testing.T, k uint8, line []byte) {
		kind := kinds[int(k)%len(kinds)]
		op := Op{
			Kind: kind, Repository: repoAt("/srv/r"),
			OnLine: func(_ Stream, l string) {
				if len(l) > topics.MaxLogLine || !utf8.ValidString(l) || strings.ContainsAny(l, "\x00\n\r\x1b") {
					t.Fatalf("unfit log line %q", l)
				}
			},
			OnProgress: func(p Progress) {
				if p.Percent < 0 || p.Percent > 100 || p.ETASeconds < -1 || p.ElapsedSeconds < 0 {
					t.Fatalf("implausible progress %+v", p)
				}
			},
		}
		sess := newSession(kind, op, time.Now())
		sess.handle(StreamStdout, line)
		sess.handle(StreamStderr, line)
		res := sess.result()
		if len(res.Errors) > maxErrors {
			t.Fatalf("%d errors kept", len(res.Errors))
		}
		msg, tail, missing := sess.ending()
		v := classify(ending{kind: kind, code: 1, exitMessage: msg, stderr: tail, missingSources: missing})
		if v.outcome == "" || v.reason == "" && v.outcome != OutcomeSucceeded {
			t.Fatalf("verdict %+v", v)
		}
	})
}

// FuzzParseSnapshots: whatever it accepts is valid and survives a round
// trip through JSON.
func FuzzParseSnapshots(f *testing.F) {
	for _, data := range capturedFiles(f, ".stdout") {
		f.Add(data)
	}
	f.Add([]byte("null"))
	f.Add([]byte(`[{"id":"0123456789abcdef","time":"2024-01-01T00:00:00+02:00"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		snaps, err := ParseSnapshots(data)
		if err != nil {
			return
		}
		for _, s := range snaps {
			if !topics.ValidResticID(s.ID) || !strings.HasPrefix(s.ID, s.ShortID) || s.ShortID == "" || s.Time.Location() != time.UTC {
				t.Fatalf("accepted a bad snapshot %+v", s)
			}
		}
		again, err := json.Marshal(snaps)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSnapshots(again)
		if err != nil || len(back) != len(snaps) {
			t.Fatalf("round trip: %d → %d, %v", len(snaps), len(back), err)
		}
	})
}

// FuzzParseForgetGroups: whatever it accepts names only valid snapshots.
func FuzzParseForgetGroups(f *testing.F) {
	for _, data := range capturedFiles(f, ".stdout") {
		if line, _, _ := bytes.Cut(data, []byte("\n")); len(line) > 0 {
			f.Add(line)
		}
	}
	f.Add([]byte(`[{"keep":[],"remove":null,"reasons":[{"snapshot":{"time":"2024-01-01T00:00:00Z"},"matches":["x"]}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := ParseForgetGroups(data)
		if err != nil {
			return
		}
		for _, id := range RemovedIDs(groups) {
			if !topics.ValidResticID(id) {
				t.Fatalf("removed ID %q", id)
			}
		}
		for _, g := range groups {
			for _, r := range g.Reasons {
				if !topics.ValidResticID(r.SnapshotID) {
					t.Fatalf("reason for %q", r.SnapshotID)
				}
			}
		}
	})
}

// FuzzLineWriter: however the output is cut into writes, the same lines
// come out, each without its newline.
func FuzzLineWriter(f *testing.F) {
	for _, data := range capturedFiles(f, ".stdout", ".stderr") {
		f.Add(data, uint8(7))
	}
	f.Add([]byte("a\n\nb"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		size := int(chunk)%64 + 1
		var got [][]byte
		w := newLineWriter(StreamStdout, 1<<20, func(_ Stream, b []byte) { got = append(got, bytes.Clone(b)) })
		for rest := data; len(rest) > 0; {
			n := min(size, len(rest))
			if m, err := w.Write(rest[:n]); m != n || err != nil {
				t.Fatalf("Write = %d, %v", m, err)
			}
			rest = rest[n:]
		}
		w.flush()
		want := bytes.Split(data, []byte("\n"))
		if len(want[len(want)-1]) == 0 {
			want = want[:len(want)-1]
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d: %q, want %q", i, got[i], want[i])
			}
		}
	})
}

// FuzzClassify: any exit code and stderr give a definite outcome, and a
// reason whenever it is not plain success.
func FuzzClassify(f *testing.F) {
	for _, data := range capturedFiles(f, ".stderr") {
		f.Add(int16(1), false, string(data))
	}
	f.Add(int16(-1), true, "")
	f.Add(int16(130), false, "signal interrupt received, cleaning up")
	kinds := topics.JobKinds()
	f.Fuzz(func(t *testing.T, code int16, canceled bool, stderr string) {
		for _, kind := range kinds {
			v := classify(ending{kind: kind, code: int(code), canceled: canceled, stderr: strings.Split(stderr, "\n"), state: "exit status"})
			switch v.outcome {
			case OutcomeSucceeded:
				if code != 0 && !v.alreadyInit {
					t.Fatalf("exit %d succeeded: %+v", code, v)
				}
			case OutcomeWarning, OutcomeFailed, OutcomeCanceled:
				if v.reason == "" {
					t.Fatalf("no reason: %+v", v)
				}
			default:
				t.Fatalf("outcome %q", v.outcome)
			}
			if len(v.detail) > 2000+len("…") {
				t.Fatalf("detail of %d bytes", len(v.detail))
			}
		}
	})
}
