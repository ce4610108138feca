package server_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// logChunkRuns reads the runs of lines a job's log chunks hold, in order.
func logChunkRuns(t *testing.T, s *server.Service, job int64) [][2]uint64 {
	t.Helper()
	var rows []struct {
		First uint64 `db:"first_n"`
		Last  uint64 `db:"last_n"`
	}
	if err := s.DB().Select(&rows, `SELECT first_n, last_n FROM job_log_chunks WHERE job_id = ? ORDER BY first_n`, job); err != nil {
		t.Fatal(err)
	}
	out := make([][2]uint64, len(rows))
	for i, r := range rows {
		out[i] = [2]uint64{r.First, r.Last}
	}
	return out
}

// TestJobLogChunkResends: a log batch is stored as one chunk; the same
// batch again stores nothing and is a duplicate; a resend cut differently
// (the agent renumbered after a crash, or batches merged) stores only the
// runs of lines not stored yet, each as a chunk of its own, so no line is
// stored twice and the log reads back whole and in order.
func TestJobLogChunkResends(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	b := f.backup(t)
	a := f.agent
	seq := a.Log(t, b.UID, 3, lines(3, 5)...)
	a.Log(t, b.UID, 8, lines(8, 9)...)
	a.Sync(t)
	if got, want := logChunkRuns(t, f.s, b.ID), [][2]uint64{{3, 5}, {8, 9}}; !slices.Equal(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	dups := f.s.Stats().Duplicates.Load()
	a.ResendLog(t, seq, b.UID, 3, lines(3, 5)...) // the outbox resent it
	a.Sync(t)
	if f.s.Stats().Duplicates.Load() != dups+1 {
		t.Fatal("the same batch again was not a duplicate")
	}
	a.Log(t, b.UID, 1, lines(1, 11)...) // overlaps both chunks
	a.Sync(t)
	want := [][2]uint64{{1, 2}, {3, 5}, {6, 7}, {8, 9}, {10, 11}}
	if got := logChunkRuns(t, f.s, b.ID); !slices.Equal(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	a.Log(t, b.UID, 4, lines(4, 10)...) // nothing new
	a.Sync(t)
	if got := logChunkRuns(t, f.s, b.ID); !slices.Equal(got, want) {
		t.Fatalf("after a resend of stored lines: chunks %v, want %v", got, want)
	}
	got, err := f.s.JobLog(t.Context(), b.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 11 {
		t.Fatalf("read %d lines, want 11", len(got))
	}
	for i, l := range got {
		if l.N != uint64(i+1) || l.Text != fmt.Sprintf("line %d", i+1) {
			t.Fatalf("line %d = %+v", i+1, l)
		}
	}
	if j := f.job(t, b.ID); j.LogLines != 11 {
		t.Fatalf("job counts %d lines, want 11", j.LogLines)
	}
}

// TestJobLogPagesAcrossChunks: a page of the log starts inside a chunk,
// crosses chunk boundaries and stops inside another, whatever the page
// size; the lines keep their streams and times.
func TestJobLogPagesAcrossChunks(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	b := f.backup(t)
	a := f.agent
	const total, per = 100, 7
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	streams := []string{topics.StreamStdout, topics.StreamStderr, topics.StreamAgent}
	want := make([]server.LogLine, 0, total)
	for first := 1; first <= total; first += per {
		m := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, a.Host), Seq: a.NextSeq(), Job: b.UID, First: uint64(first)}
		for n := first; n < first+per && n <= total; n++ {
			l := topics.LogLine{T: base.Add(time.Duration(n) * 1500 * time.Microsecond), Stream: streams[n%3],
				Text: fmt.Sprintf("line %d \"quoted\"\t\\ é\x01", n)}
			m.Lines = append(m.Lines, l)
			want = append(want, server.LogLine{N: uint64(n), T: l.T, Stream: l.Stream, Text: l.Text})
		}
		a.Send(t, topics.JobLogTopic(a.Host, b.UID), m)
	}
	a.Sync(t)
	for _, limit := range []int{1, 5, 7, 13, 100} {
		var got []server.LogLine
		for after := uint64(0); ; {
			page, err := f.s.JobLog(t.Context(), b.ID, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: a page of %d lines", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].N
		}
		if len(got) != len(want) {
			t.Fatalf("limit %d: read %d lines, want %d", limit, len(got), len(want))
		}
		for i := range want {
			if got[i].N != want[i].N || got[i].Stream != want[i].Stream || got[i].Text != want[i].Text || !got[i].T.Equal(want[i].T) {
				t.Fatalf("limit %d: line %d = %+v, want %+v", limit, i+1, got[i], want[i])
			}
		}
	}
	// A page from the middle of a chunk.
	page, err := f.s.JobLog(t.Context(), b.ID, 10, 6)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 6 || page[0].N != 11 || page[5].N != 16 {
		t.Fatalf("page after 10: %+v", page)
	}
}

// TestMigrationJobLogChunksConvertsLines: migration 0015 turns the rows
// of job_log (one per line) into chunks of at most 1,000 consecutive
// lines, a gap starting a new chunk, keeping each line's number, stream,
// text (quotes, tabs, newlines, non-ASCII) and time (within a millisecond:
// SQLite's date functions read no finer), and the reader pages them.
func TestMigrationJobLogChunksConvertsLines(t *testing.T) {
	ctx := t.Context()
	dsn := filepath.Join(t.TempDir(), "rm.db")
	if servertest.UsePostgres() {
		dsn = servertest.EmptyPostgresURL(t)
	}
	db, err := server.OpenStoreAt(ctx, dsn, "0014_announce_challenges.sql")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO hosts (id, name, mqtt_secret_hash, created_at) VALUES ('h_1', 'office', '', ?)`, []any{now}},
		{`INSERT INTO jobs (id, uid, host_id, kind, spec, status, command_id, expires_at, created_by, created_at, updated_at)
			VALUES (10, 'j_a', 'h_1', 'backup', '{}', 'succeeded', 'c', ?, 'cli', ?, ?)`, []any{now, now, now}},
		{`INSERT INTO jobs (id, uid, host_id, kind, spec, status, command_id, expires_at, created_by, created_at, updated_at)
			VALUES (11, 'j_b', 'h_1', 'backup', '{}', 'failed', 'c', ?, 'cli', ?, ?)`, []any{now, now, now}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	type line struct {
		job  int64
		n    uint64
		t    time.Time
		s, x string
	}
	var want []line
	for n := uint64(1); n <= 2500; n++ {
		want = append(want, line{10, n, now.Add(time.Duration(n) * 1500 * time.Microsecond), topics.StreamStdout, fmt.Sprintf("line %d", n)})
	}
	for n := uint64(2600); n <= 2602; n++ { // after a gap
		want = append(want, line{10, n, now.Add(-time.Duration(n) * time.Millisecond), topics.StreamStderr, fmt.Sprintf("\"%d\"\t\\ né\nx", n)})
	}
	want = append(want, line{11, 1, now, topics.StreamAgent, ""})
	for _, l := range want {
		if _, err := db.ExecContext(ctx, `INSERT INTO job_log (job_id, n, t, stream, text) VALUES (?, ?, ?, ?, ?)`, l.job, l.n, l.t, l.s, l.x); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var runs []struct {
		Job   int64  `db:"job_id"`
		First uint64 `db:"first_n"`
		Last  uint64 `db:"last_n"`
	}
	if err := db.SelectContext(ctx, &runs, `SELECT job_id, first_n, last_n FROM job_log_chunks ORDER BY job_id, first_n`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(runs) != "[{10 1 1000} {10 1001 2000} {10 2001 2500} {10 2600 2602} {11 1 1}]" {
		t.Fatalf("chunks: %v", runs)
	}
	var old int
	if err := db.GetContext(ctx, &old, `SELECT COUNT(*) FROM jobs WHERE id = 10`); err != nil || old != 1 {
		t.Fatalf("jobs: %d, %v", old, err)
	}
	var got []server.LogLine
	for _, job := range []int64{10, 11} {
		for after := uint64(0); ; {
			page, err := server.ReadJobLog(ctx, db, job, after, 700)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].N
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d lines, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.N != w.n || g.Stream != w.s || g.Text != w.x || g.T.Sub(w.t).Abs() > time.Millisecond {
			t.Fatalf("line %d of job %d = %+v, want %+v", w.n, w.job, g, w)
		}
	}
}
