package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkIngestLogBatches measures the store-first pipeline for log
// batches: decode and validate on the caller (as the broker's inline
// handler does), queue, batched SQLite transactions, acks. It reports
// messages and log lines stored per second.
func BenchmarkIngestLogBatches(b *testing.B) {
	for _, perBatch := range []int{10, 100} {
		b.Run(fmt.Sprintf("lines=%d", perBatch), func(b *testing.B) {
			s := servertest.MustOpenService(b, server.Options{})
			s.SetPublisher(&servertest.Publisher{})
			servertest.RunInBackground(b, s)
			host := enrollTestHost(b, s, "bench-1")
			j, err := s.SetRepository(b.Context(), server.CLIActor(), host, server.RepositoryInput{URL: "/srv/restic", Password: "pw"})
			if err != nil {
				b.Fatal(err)
			}
			text := strings.Repeat("x", 80)
			topic := topics.JobLogTopic(host, j.UID)
			payload := func(seq uint64) []byte {
				m := &topics.JobLog{Envelope: topics.NewEnvelope(topics.TypeJobLog, host), Seq: seq, Job: j.UID,
					First: (seq-1)*uint64(perBatch) + 1}
				for range perBatch {
					m.Lines = append(m.Lines, topics.LogLine{T: time.Now().UTC(), Stream: topics.StreamStdout, Text: text})
				}
				data, _ := json.Marshal(m)
				return data
			}
			msgs := make([][]byte, b.N)
			for i := range msgs {
				msgs[i] = payload(uint64(i + 1))
			}
			b.ResetTimer()
			start := time.Now()
			for _, m := range msgs {
				s.HandleMessage(topic, m, host, 1)
			}
			if err := s.SyncIngest(b.Context()); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			var stored int64
			if err := s.DB().Get(&stored, `SELECT log_lines FROM jobs WHERE id = ?`, j.ID); err != nil || stored != int64(b.N*perBatch) {
				b.Fatalf("stored %d lines, want %d (%v)", stored, b.N*perBatch, err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N*perBatch)/elapsed.Seconds(), "lines/s")
		})
	}
}
