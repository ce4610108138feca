package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// FuzzHandleMessageJobs feeds arbitrary payloads to the job topics of a
// running service: nothing may panic, and the stored job must stay
// consistent (a known state, its log counter equal to its stored lines).
func FuzzHandleMessageJobs(f *testing.F) {
	s := servertest.MustOpenService(f, server.Options{Ingest: server.IngestOptions{BatchWait: time.Millisecond}})
	s.SetPublisher(&servertest.Publisher{})
	servertest.RunInBackground(f, s)
	host := enrollTestHost(f, s, "fuzz-1")
	j, err := s.SetRepository(f.Context(), server.CLIActor(), host, server.RepositoryInput{URL: "/srv/restic", Password: "pw"})
	if err != nil {
		f.Fatal(err)
	}
	add := func(kind byte, m any) {
		b, _ := json.Marshal(m)
		f.Add(kind, b)
	}
	now := time.Now().UTC()
	add(0, &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, host), Seq: 1, Job: j.UID, Version: 2,
		State: topics.JobDelivered, At: now})
	add(0, &topics.JobEvent{Envelope: topics.NewEnvelope(topics.TypeJobEvent, host), Seq: 2, Job: j.UID, Version: 3,
		State: topics.JobFailed, At: now, Result: &topics.JobResult{Reason: "x", LogLines: 3}})
	add(1, &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, host), Seq: 3, Job: j.UID, First: 1,
		Lines: []topics.LogLine{{T: now, Stream: topics.StreamStderr, Text: "Fatal: wrong password"}}})
	add(2, &topics.JobProgress{Envelope: topics.NewEnvelope(topics.TypeJobProgress, host), Job: j.UID, Percent: 50})
	add(3, &topics.SnapshotReport{Envelope: topics.NewEnvelope(topics.TypeSnapshots, host), Seq: 4, Report: "rep", Part: 1,
		Parts: 2, TakenAt: now})
	topicFor := []string{topics.JobEventTopic(host, j.UID), topics.JobLogTopic(host, j.UID),
		topics.JobProgressTopic(host, j.UID), topics.SnapshotsTopic(host)}
	f.Fuzz(func(t *testing.T, kind byte, payload []byte) {
		s.HandleMessage(topicFor[int(kind)%len(topicFor)], payload, host, 1)
		if err := s.SyncIngest(t.Context()); err != nil {
			t.Fatal(err)
		}
		var row struct {
			Status   string `db:"status"`
			Version  int64  `db:"version"`
			LogLines int64  `db:"log_lines"`
			Stored   int64  `db:"stored"`
		}
		if err := s.DB().Get(&row, `SELECT status, version, log_lines, (SELECT COALESCE(SUM(last_n - first_n + 1), 0) FROM job_log_chunks WHERE job_id = jobs.id) AS stored
			FROM jobs WHERE id = ?`, j.ID); err != nil {
			t.Fatal(err)
		}
		if !topics.JobState(row.Status).Valid() || row.Version < 1 || row.LogLines != row.Stored {
			t.Fatalf("job inconsistent after a message: %+v", row)
		}
	})
}
