package restic

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkSessionBackupOutput measures the runner's cost per byte of
// restic backup output (status lines, summary), which the agent pays on top
// of restic itself for every backup.
func BenchmarkSessionBackupOutput(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "restic-0.18.1", "backup.stdout"))
	if err != nil {
		b.Fatal(err)
	}
	op := Op{Kind: topics.JobBackup, Repository: repoAt("/srv/r"), OnLine: func(Stream, string) {}, OnProgress: func(Progress) {}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		readBackupOutput(b, op, data)
	}
}

// BenchmarkSessionStatusStream measures what reading restic's progress
// costs the agent: a backup prints a status line up to 60 times a second
// with --json, of which one a second is passed on. One op is 600 status
// lines (ten seconds of a backup) and the summary.
func BenchmarkSessionStatusStream(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "restic-0.18.1", "backup.stdout"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSpace(data), []byte("\n"))
	stream := bytes.Repeat(lines[0], 600)
	stream = append(stream, lines[len(lines)-1]...)
	op := Op{Kind: topics.JobBackup, Repository: repoAt("/srv/r"), OnLine: func(Stream, string) {}, OnProgress: func(Progress) {}}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		readBackupOutput(b, op, stream)
	}
}

// readBackupOutput hands out to a new backup session as restic's stdout.
func readBackupOutput(b *testing.B, op Op, out []byte) {
	sess := newSession(topics.JobBackup, op, time.Now())
	w := newLineWriter(StreamStdout, maxDecodeLine, sess.handle)
	w.Write(out)
	w.flush()
	if sess.result().Summary == nil {
		b.Fatal("no summary decoded")
	}
}
