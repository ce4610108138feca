package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// BenchmarkFleetMetrics is one /metrics scrape's database read on a fleet
// of 10,000 hosts, each with 30 ended jobs (backups, a check, forgets) and
// 20 snapshots: the per-host figures come from one query, so the cost grows
// with the hosts and their newest rows, not with one query per host.
func BenchmarkFleetMetrics(b *testing.B) {
	const hosts, jobsPerHost, snapsPerHost = 10_000, 30, 20
	s := servertest.MustOpenService(b, server.Options{})
	tx := s.DB().MustBegin()
	now := time.Now().UTC()
	job := 0
	for i := range hosts {
		id := fmt.Sprintf("h_bench%05d", i)
		tx.MustExec(`INSERT INTO hosts (id, name, mqtt_secret_hash, created_at) VALUES (?, ?, x'00', ?)`, id, fmt.Sprintf("bench-%05d", i), now)
		for k := range jobsPerHost {
			job++
			kind, status := "backup", "succeeded"
			switch {
			case k%10 == 9:
				kind = "forget"
			case k == 15:
				kind, status = "check", "failed"
			}
			at := now.Add(-time.Duration(jobsPerHost-k) * time.Hour)
			tx.MustExec(`INSERT INTO jobs (uid, host_id, kind, spec, status, command_id, expires_at, created_by, created_at, updated_at, started_at, finished_at, result)
				VALUES (?, ?, ?, '{}', ?, ?, ?, 'bench', ?, ?, ?, ?, ?)`, fmt.Sprintf("j%d", job), id, kind, status, fmt.Sprintf("c%d", job),
				at, at, at, at, at.Add(time.Minute), `{"backup":{"data_added":1048576,"total_duration":60}}`)
		}
		for n := range snapsPerHost {
			tx.MustExec(`INSERT INTO snapshots (host_id, id, time, info) VALUES (?, ?, ?, ?)`, id, fmt.Sprintf("%064x", n), now,
				`{"data_added":1048576}`)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := s.FleetMetrics(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != hosts {
			b.Fatalf("%d hosts, want %d", len(got), hosts)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
}
