package servertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// SeededFleet is what SeedFleet wrote: the tags every host of a kind has,
// for benchmarks that filter by them.
type SeededFleet struct {
	Hosts int
	// SiteTag is carried by one host in SeedSites; RoleTag by one in ten.
	SiteTag, RoleTag string
}

// SeedSites is how many sites SeedFleet spreads the hosts over.
const SeedSites = 50

// SeedFleet bulk-inserts n enrolled hosts (host-00000, ...) into s's
// store in one transaction — seconds for 10,000, where enrolling each
// through the API would take minutes — and then runs the health check
// once so every host's stored health is what it computes. Host i runs
// linux, windows or darwin (i mod 3), carries the tag site:sNN (i mod
// SeedSites) and, one in ten, role:db; each has a successful backup an
// hour ago, one in twenty a failed backup after it (failing), and one in
// seven none at all (overdue: enrolled a month ago).
func SeedFleet(tb testing.TB, s *server.Service, n int) SeededFleet {
	tb.Helper()
	ctx := tb.Context()
	tx := s.DB().MustBegin()
	now := time.Now().UTC()
	hostIns, err := tx.Preparex(`INSERT INTO hosts (id, name, hostname, os, arch, mqtt_secret_hash, created_at, last_seen)
		VALUES (?, ?, ?, ?, 'amd64', x'00', ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	tagIns, err := tx.Preparex(`INSERT INTO host_tags (host_id, tag) VALUES (?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	jobIns, err := tx.Preparex(`INSERT INTO jobs (uid, host_id, kind, spec, status, command_id, expires_at, created_by,
		created_at, updated_at, started_at, finished_at) VALUES (?, ?, 'backup', '{}', ?, ?, ?, 'seed', ?, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	oses := []string{"linux", "windows", "darwin"}
	job := 0
	backup := func(id, status string, at time.Time) {
		job++
		jobIns.MustExec(fmt.Sprintf("seed-%d", job), id, status, fmt.Sprintf("c-seed-%d", job), at, at, at, at, at.Add(time.Minute))
	}
	for i := range n {
		id := fmt.Sprintf("h_seed%06d", i)
		name := fmt.Sprintf("host-%05d", i)
		hostIns.MustExec(id, name, name+".example.lan", oses[i%3], now.Add(-30*24*time.Hour), now.Add(-time.Minute))
		tagIns.MustExec(id, fmt.Sprintf("site:s%02d", i%SeedSites))
		if i%10 == 0 {
			tagIns.MustExec(id, "role:db")
		}
		if i%7 == 0 {
			continue
		}
		backup(id, "succeeded", now.Add(-time.Hour))
		if i%20 == 0 {
			backup(id, "failed", now.Add(-30*time.Minute))
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if err := s.CheckHealth(ctx); err != nil {
		tb.Fatal(err)
	}
	return SeededFleet{Hosts: n, SiteTag: "site:s07", RoleTag: "role:db"}
}
