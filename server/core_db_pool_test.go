package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// A storm of concurrent reads (hundreds of agents authenticating at once)
// queues for the bounded read pool: no more than server.ReadConns SQLite
// connections are ever open, and none is opened and closed again (an
// unbounded pool opened one per concurrent query and closed all but two
// when they were done: thousands of file descriptors and a third of a
// storm's CPU).
func TestReadStormReusesBoundedConnections(t *testing.T) {
	// SQLite's read pool and its bound (PostgreSQL's pools have their own).
	s := servertest.MustOpenSQLiteService(t, server.Options{})
	host := enrollTestHost(t, s, "storm-1")
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for range 400 {
		wg.Go(func() {
			if _, err := s.GetHost(ctx, host); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.DB().Stats()
	if st.OpenConnections > server.ReadConns || st.MaxIdleClosed != 0 || st.MaxLifetimeClosed != 0 {
		t.Fatalf("read pool after the storm: %d open (cap %d), %d closed as surplus idle, %d closed for age",
			st.OpenConnections, server.ReadConns, st.MaxIdleClosed, st.MaxLifetimeClosed)
	}
	if w := s.DB().WriterStats(); w.MaxOpenConnections != 1 {
		t.Fatalf("the writer may open %d connections, want 1", w.MaxOpenConnections)
	}
}

// Writes go through the one writer; the read pool refuses them, so a write
// sent there by mistake fails at once instead of taking SQLite's lock
// behind the writer's back.
func TestReadPoolRefusesWrites(t *testing.T) {
	// query_only is SQLite's; PostgreSQL's read pool is a plain pool.
	s := servertest.MustOpenSQLiteService(t, server.Options{})
	host := enrollTestHost(t, s, "ro-1")
	var name string
	if err := s.DB().Get(&name, `UPDATE hosts SET name = 'renamed' WHERE id = ? RETURNING name`, host); err == nil {
		t.Fatalf("a write through the read pool succeeded (%q)", name)
	}
	if _, err := s.DB().Exec(`UPDATE hosts SET name = 'renamed' WHERE id = ?`, host); err != nil {
		t.Fatalf("a write through the writer: %v", err)
	}
}

// API writes while agents stream logs as fast as the ingest writer takes
// them all succeed: they queue for the one writer connection instead of
// racing the ingest writer in SQLite's busy handler, which once answered
// an API POST with HTTP 500 "database is locked".
func TestAPIWritesDuringHeavyIngest(t *testing.T) {
	// A short queue: the flood waits for the writer (as agents do when it
	// is full) and drains quickly at the end, also under -race.
	s := servertest.MustOpenService(t, server.Options{Ingest: server.IngestOptions{QueueSize: 32}})
	s.SetPublisher(&servertest.Publisher{})
	servertest.RunInBackground(t, s)
	f := newLogFlood(t, s, 4, 50)
	stop := f.start()
	defer stop()
	for i := range 20 {
		if _, err := s.SetHostTags(t.Context(), server.CLIActor(), f.host, []string{fmt.Sprintf("t%d", i)}); err != nil {
			t.Fatalf("API write %d during ingest: %v", i, err)
		}
	}
	stop()
	if err := s.SyncIngest(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.stored(t); got == 0 {
		t.Fatal("no log line was stored while the API wrote: the flood did not run")
	}
}

// logFlood streams log batches of several jobs of one host into
// HandleMessage from one goroutine per job, as fast as the ingest writer
// takes them (HandleMessage waits when its queue is full).
type logFlood struct {
	s       *server.Service
	host    string
	lines   int
	streams []*logStream
	seq     atomic.Uint64
}

type logStream struct {
	topic, uid string
	next       uint64
}

func newLogFlood(tb testing.TB, s *server.Service, jobs, lines int) *logFlood {
	tb.Helper()
	f := &logFlood{s: s, host: enrollTestHost(tb, s, "flood-1"), lines: lines}
	for i := range jobs {
		j, err := s.SetRepository(tb.Context(), server.CLIActor(), f.host, server.RepositoryInput{URL: fmt.Sprintf("/srv/restic/%d", i), Password: "pw"})
		if err != nil {
			tb.Fatal(err)
		}
		f.streams = append(f.streams, &logStream{topic: topics.JobLogTopic(f.host, j.UID), uid: j.UID, next: 1})
	}
	return f
}

// batch is the stream's next log batch.
func (f *logFlood) batch(st *logStream) []byte {
	m := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, f.host), Seq: f.seq.Add(1), Job: st.uid, First: st.next}
	text := strings.Repeat("x", 100)
	for range f.lines {
		m.Lines = append(m.Lines, topics.LogLine{T: time.Now().UTC(), Stream: topics.StreamStdout, Text: text})
	}
	st.next += uint64(f.lines)
	data, _ := json.Marshal(m)
	return data
}

// start floods until the returned stop is called (stop may be called
// more than once).
func (f *logFlood) start() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, st := range f.streams {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				f.s.HandleMessage(st.topic, f.batch(st), f.host, 1)
			}
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// stored is the log lines stored of every job.
func (f *logFlood) stored(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	if err := f.s.DB().Get(&n, `SELECT COALESCE(SUM(log_lines), 0) FROM jobs`); err != nil {
		tb.Fatal(err)
	}
	return n
}
