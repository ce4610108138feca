package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// TestScheduleNextRunOverZones: the server's "Next" is the agent's cron
// read in the schedule's zone, after the service's clock (topics has the
// big table; this checks the wiring).
func TestScheduleNextRunOverZones(t *testing.T) {
	f := newJobsFixture(t) // clock: 2026-03-01 12:00 UTC (a Sunday)
	f.group(t, server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}})
	for _, c := range []struct {
		cron, zone string
		want       string // RFC 3339, UTC
	}{
		{"0 3 * * *", "", "2026-03-02T03:00:00Z"},
		{"0 3 * * *", "Europe/Berlin", "2026-03-02T02:00:00Z"},
		{"30 8 * * *", "America/New_York", "2026-03-01T13:30:00Z"},
		{"0 0 * * *", "Asia/Tokyo", "2026-03-01T15:00:00Z"},
		{"@hourly", "Asia/Kolkata", "2026-03-01T12:30:00Z"}, // +05:30: the hour starts at :30 UTC
		{"0 9 * * 1", "UTC", "2026-03-02T09:00:00Z"},
	} {
		sc := f.schedule(t, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "Home", Cron: c.cron, TimeZone: c.zone})
		if sc.Next == nil || sc.Next.UTC().Format(time.RFC3339) != c.want {
			t.Errorf("%s in %q: next %v, want %s", c.cron, c.zone, sc.Next, c.want)
		}
	}
	never := f.schedule(t, server.ScheduleInput{Kind: topics.JobCheck, Cron: "0 0 30 2 *"})
	if never.Next != nil {
		t.Errorf("30 February: next %v", never.Next)
	}
	f.clock.Advance(24 * time.Hour)
	list, err := f.s.ListSchedules(t.Context(), f.host)
	if err != nil {
		t.Fatal(err)
	}
	if got := list[0].Next.UTC().Format(time.RFC3339); got != "2026-03-03T03:00:00Z" {
		t.Errorf("next after a day: %s", got)
	}
}

// TestScheduleLastRun: Last is the newest job the schedule started, its
// finish time once it finished.
func TestScheduleLastRun(t *testing.T) {
	f := newJobsFixture(t)
	f.ready(t)
	g, sc := f.homeBackups(t, "0 3 * * *")
	slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	first := f.scheduledRun(t, sc, g, slot)
	f.agentFinish(t, first, sc, g, slot, topics.JobFailed)
	second := f.scheduledRun(t, sc, g, slot.Add(24*time.Hour))
	list, err := f.s.ListSchedules(t.Context(), f.host)
	if err != nil {
		t.Fatal(err)
	}
	j := f.jobByUID(t, second)
	if l := list[0].Last; l == nil || l.ID != j.ID || l.Status != topics.JobRunning || !l.At.Equal(j.CreatedAt) {
		t.Fatalf("last while running: %+v (job %+v)", l, j)
	}
	f.agentFinish(t, second, sc, g, slot.Add(24*time.Hour), topics.JobSucceeded)
	list, _ = f.s.ListSchedules(t.Context(), f.host)
	j = f.jobByUID(t, second)
	if l := list[0].Last; l == nil || l.Status != topics.JobSucceeded || !l.At.Equal(*j.FinishedAt) {
		t.Fatalf("last after finish: %+v", l)
	}
	got, err := f.s.GetSourceGroup(t.Context(), f.host, "Home")
	if err != nil || got.LastBackup == nil || got.LastBackup.ID != j.ID || got.Schedules[0].Last.ID != j.ID {
		t.Fatalf("group's last backup: %v %+v", err, got)
	}
	// Deleting the group (and so its schedule) keeps the jobs, without them.
	if err := f.s.DeleteSourceGroup(t.Context(), f.admin, f.host, "Home"); err != nil {
		t.Fatal(err)
	}
	if j := f.jobByUID(t, second); j.ScheduleID != 0 || j.SourceGroupID != 0 || j.SourceGroupName != "" || j.ScheduledFor == nil {
		t.Fatalf("job after its group went: %+v", j)
	}
}

func TestFleetPlans(t *testing.T) {
	f := newJobsFixture(t) // clock: 2026-03-01 12:00 UTC
	f.ready(t)
	ctx := t.Context()
	// web-1: two backup schedules (the earlier one wins), a check (not a
	// backup: ignored), a finished backup.
	f.group(t, server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}})
	f.schedule(t, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "Home", Cron: "0 22 * * *"})
	f.schedule(t, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "Home", Cron: "0 18 * * *"})
	f.schedule(t, server.ScheduleInput{Kind: topics.JobCheck, Cron: "0 13 * * *"})
	b := f.backup(t)
	f.finish(t, b.UID, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0)})
	f.backup(t) // newer, still queued: it is the last backup
	last := f.backup(t)

	// web-2: every backup schedule paused. web-3: nothing. A revoked host: absent.
	hosts := map[string]string{}
	for _, name := range []string{"web-2", "web-3", "gone"} {
		hosts[name] = enrollTestHost(t, f.s, name)
	}
	g2, err := f.s.CreateSourceGroup(ctx, f.admin, hosts["web-2"], server.SourceGroupInput{Name: "Data", Paths: []string{"/data"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateSchedule(ctx, f.admin, hosts["web-2"], server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: g2.Key,
		Cron: "@daily", Paused: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RevokeHost(ctx, f.admin, hosts["gone"], "gone"); err != nil {
		t.Fatal(err)
	}

	plans, err := f.s.FleetPlans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 3 {
		t.Fatalf("plans for %d hosts: %+v", len(plans), plans)
	}
	p1 := plans[f.host]
	if p1.NextRun == nil || !p1.NextRun.Equal(time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)) || p1.AllPaused ||
		p1.LastBackup == nil || p1.LastBackup.ID != last.ID || p1.LastBackup.Status != topics.JobQueued ||
		p1.Config.Desired != 5 || p1.Config.Applied != 1 || !p1.Config.Pending {
		t.Fatalf("web-1: %+v", p1)
	}
	if p2 := plans[hosts["web-2"]]; p2.NextRun != nil || !p2.AllPaused || p2.LastBackup != nil || p2.Config.Desired != 2 {
		t.Fatalf("web-2: %+v", p2)
	}
	if p3 := plans[hosts["web-3"]]; p3.NextRun != nil || p3.AllPaused || p3.LastBackup != nil || p3.Config.Desired != 0 || p3.Config.Pending {
		t.Fatalf("web-3: %+v", p3)
	}
}

// BenchmarkFleetPlans: the dashboard's per-host plan for a large fleet
// (hosts × one backup schedule and a few backups each).
func BenchmarkFleetPlans(b *testing.B) {
	s := servertest.MustOpenService(b, server.Options{})
	const hosts = 2000
	tx := s.DB().MustBegin()
	now := time.Now().UTC()
	for i := range hosts {
		id := fmt.Sprintf("h_bench%05d", i)
		tx.MustExec(`INSERT INTO hosts (id, name, mqtt_secret_hash, created_at, config_version) VALUES (?, ?, ?, ?, 3)`, id, id, []byte{0}, now)
		var group int64
		if err := tx.Get(&group, `INSERT INTO source_groups (host_id, name, paths, created_at, updated_at) VALUES (?, 'Home', '["/home"]', ?, ?)
			RETURNING id`, id, now, now); err != nil {
			b.Fatal(err)
		}
		tx.MustExec(`INSERT INTO schedules (host_id, kind, source_group_id, cron, time_zone, created_at, updated_at)
			VALUES (?, 'backup', ?, ?, 'Europe/Berlin', ?, ?)`, id, group, fmt.Sprintf("%d 3 * * *", i%60), now, now)
		for k := range 3 {
			tx.MustExec(`INSERT INTO jobs (uid, host_id, kind, spec, status, command_id, expires_at, created_by, created_at, updated_at)
				VALUES (?, ?, 'backup', '{}', 'succeeded', 'c', ?, 'b', ?, ?)`, fmt.Sprintf("j_%s_%d", id, k), id, now, now, now)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		plans, err := s.FleetPlans(b.Context())
		if err != nil || len(plans) != hosts {
			b.Fatal(err, len(plans))
		}
	}
}
