package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
	"github.com/restic-manager/restic-manager/topics"
)

// healthHost enrolls a host with a ready repository and its agent online.
func (f *jobsFixture) healthHost(t *testing.T, name string) (string, *servertest.HostAgent) {
	t.Helper()
	host := enrollTestHost(t, f.s, name)
	j, err := f.s.SetRepository(t.Context(), f.admin, host, server.RepositoryInput{URL: "/srv/restic/" + name, Password: testRepoPassword})
	if err != nil {
		t.Fatal(err)
	}
	a := servertest.NewHostAgent(f.s, host)
	a.Connect(t, 1)
	a.RunJobAt(t, j.UID, topics.JobSucceeded, f.clock.Now())
	return host, a
}

// backupNow runs a backup of /etc on host to state, finishing at the clock's now.
func (f *jobsFixture) backupNow(t *testing.T, host string, a *servertest.HostAgent, state topics.JobState) {
	t.Helper()
	j, err := f.s.CreateJob(t.Context(), f.operator, host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobBackup, Paths: []string{"/etc"}}})
	if err != nil {
		t.Fatal(err)
	}
	a.RunJobAt(t, j.UID, state, f.clock.Now())
}

func (f *jobsFixture) hostHealth(t *testing.T, host string) server.HostHealth {
	t.Helper()
	h, err := f.s.GetHost(t.Context(), host)
	if err != nil {
		t.Fatal(err)
	}
	return h.HostHealth
}

func int64p(n int64) *int64 { return &n }

// TestHealthOverdueFromSchedules: with a fixed clock, a host is overdue
// once its last success is older than the longest gap between its backup
// slots plus the grace (a quarter of the gap, at least 2 h, plus jitter);
// paused schedules and hosts without one use the global threshold (26 h);
// the host's own threshold wins over both.
func TestHealthOverdueFromSchedules(t *testing.T) {
	f := newJobsFixture(t) // 2026-03-01 12:00 UTC, a Sunday
	type sched struct {
		cron   string
		jitter int
		paused bool
	}
	for _, c := range []struct {
		name     string
		scheds   []sched
		own      *int64
		interval int64 // expected_interval_seconds; 0: none
		after    time.Duration
	}{
		{"hourly", []sched{{cron: "@hourly"}}, nil, 3600, 3 * time.Hour},
		{"daily", []sched{{cron: "0 3 * * *"}}, nil, 86400, 30 * time.Hour},
		{"weekly", []sched{{cron: "0 3 * * 0"}}, nil, 7 * 86400, 7*24*time.Hour + 42*time.Hour},
		{"weekdays", []sched{{cron: "0 3 * * 1-5"}}, nil, 72 * 3600, 90 * time.Hour},
		{"weekdays-and-weekend-noons", []sched{{cron: "0 3 * * 1-5"}, {cron: "0 12 * * 0,6"}}, nil, 33 * 3600, 33*time.Hour + 8*time.Hour + 15*time.Minute},
		{"daily-jitter", []sched{{cron: "0 3 * * *", jitter: 3600}}, nil, 86400, 31 * time.Hour},
		{"paused", []sched{{cron: "@hourly", paused: true}}, nil, 0, 26 * time.Hour},
		{"paused-beside-weekly", []sched{{cron: "@hourly", paused: true}, {cron: "0 3 * * 0"}}, nil, 7 * 86400, 7*24*time.Hour + 42*time.Hour},
		{"no-schedule", nil, nil, 0, 26 * time.Hour},
		{"own-threshold", []sched{{cron: "0 3 * * *"}}, int64p(2 * 3600), 86400, 2 * time.Hour},
	} {
		host, a := f.healthHost(t, c.name)
		if len(c.scheds) > 0 {
			if _, err := f.s.CreateSourceGroup(t.Context(), f.admin, host, server.SourceGroupInput{Name: "Home", Paths: []string{"/home"}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, sc := range c.scheds {
			if _, err := f.s.CreateSchedule(t.Context(), f.admin, host, server.ScheduleInput{Kind: topics.JobBackup, SourceGroup: "Home",
				Cron: sc.cron, JitterSeconds: sc.jitter, Paused: sc.paused}); err != nil {
				t.Fatal(err)
			}
		}
		if c.own != nil {
			if _, err := f.s.SetHostAlerting(t.Context(), f.admin, host, server.HostAlerting{OverdueAfterSeconds: c.own}); err != nil {
				t.Fatal(err)
			}
		}
		f.backupNow(t, host, a, topics.JobSucceeded)
		success := f.clock.Now()
		h := f.hostHealth(t, host)
		if h.LastSuccessAt == nil || !h.LastSuccessAt.Equal(success) || h.Overdue || h.Health != server.HealthOK {
			t.Fatalf("%s: right after a success: %+v", c.name, h)
		}
		switch {
		case c.interval == 0 && h.ExpectedIntervalSeconds != nil:
			t.Errorf("%s: expected interval %d, want none", c.name, *h.ExpectedIntervalSeconds)
		case c.interval != 0 && (h.ExpectedIntervalSeconds == nil || *h.ExpectedIntervalSeconds != c.interval):
			t.Errorf("%s: expected interval %v, want %d", c.name, h.ExpectedIntervalSeconds, c.interval)
		}
		if h.OverdueAfterSeconds != int64(c.after/time.Second) {
			t.Errorf("%s: overdue after %d s, want %d", c.name, h.OverdueAfterSeconds, int64(c.after/time.Second))
		}
		f.clock.Advance(c.after - time.Minute)
		a.Connect(t, 1) // still online: only overdue is in question
		if h := f.hostHealth(t, host); h.Overdue {
			t.Errorf("%s: overdue a minute before its threshold: %+v", c.name, h)
		}
		f.clock.Advance(2 * time.Minute)
		a.Connect(t, 1)
		if h := f.hostHealth(t, host); !h.Overdue || h.Health != server.HealthOverdue || !h.LastSuccessAt.Equal(success) {
			t.Errorf("%s: not overdue a minute after its threshold: %+v", c.name, h)
		}
	}
}

// TestHealthStates: pending until the first success (and overdue once the
// threshold passed since the enrollment), failing after a failed backup,
// offline only past the host's own offline threshold.
func TestHealthStates(t *testing.T) {
	f := newJobsFixture(t)
	host, a := f.healthHost(t, "laptop")
	if h := f.hostHealth(t, host); h.Health != server.HealthPending || h.Overdue || h.LastSuccessAt != nil || h.NextRunAt != nil {
		t.Fatalf("new host: %+v", h)
	}
	f.clock.Advance(26*time.Hour + time.Minute)
	a.Connect(t, 1)
	if h := f.hostHealth(t, host); h.Health != server.HealthOverdue || !h.Overdue {
		t.Fatalf("never backed up for 26 h: %+v", h)
	}
	f.backupNow(t, host, a, topics.JobSucceeded)
	f.backupNow(t, host, a, topics.JobFailed)
	if h := f.hostHealth(t, host); h.Health != server.HealthFailing || h.Overdue || h.LastSuccessAt == nil {
		t.Fatalf("after a failed backup: %+v", h)
	}
	f.backupNow(t, host, a, topics.JobWarning) // a snapshot with unreadable files is a success
	if h := f.hostHealth(t, host); h.Health != server.HealthOK || !h.LastSuccessAt.Equal(f.clock.Now()) {
		t.Fatalf("after a warning: %+v", h)
	}
	if _, err := f.s.SetHostAlerting(t.Context(), f.admin, host, server.HostAlerting{OfflineAlertAfterSeconds: int64p(7 * 86400),
		OverdueAfterSeconds: int64p(30 * 86400)}); err != nil {
		t.Fatal(err)
	}
	a.S.Presence().Disconnected(host, a.Conn)
	f.clock.Advance(6 * 24 * time.Hour)
	if h := f.hostHealth(t, host); h.Health != server.HealthOK || h.OfflineAlert || h.OfflineAlertAfterSeconds != 7*86400 {
		t.Fatalf("a laptop off for 6 days: %+v", h)
	}
	f.clock.Advance(24*time.Hour + time.Minute)
	if h := f.hostHealth(t, host); h.Health != server.HealthOffline || !h.OfflineAlert {
		t.Fatalf("a laptop off for 7 days: %+v", h)
	}
}

// TestHealthThresholdsRefused: out-of-range thresholds and the wrong role
// change nothing.
func TestHealthThresholdsRefused(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	if _, err := f.s.SetHostAlerting(ctx, f.operator, f.host, server.HostAlerting{OverdueAfterSeconds: int64p(3600)}); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Errorf("operator sets a host threshold: %v", err)
	}
	if _, err := f.s.SetHostAlerting(ctx, f.admin, f.host, server.HostAlerting{OverdueAfterSeconds: int64p(10)}); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Errorf("10 s: %v", err)
	}
	if _, err := f.s.SetAlertingSettings(ctx, f.operator, server.AlertingSettings{OverdueAfterSeconds: 3600, OfflineAlertAfterSeconds: 3600}); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Errorf("operator sets the global thresholds: %v", err)
	}
	if _, err := f.s.SetAlertingSettings(ctx, f.admin, server.AlertingSettings{OverdueAfterSeconds: 0, OfflineAlertAfterSeconds: 3600}); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Errorf("0 s: %v", err)
	}
	if h := f.hostHealth(t, f.host); h.Alerting.OverdueAfterSeconds != nil || h.OverdueAfterSeconds != server.DefaultOverdueAfterSeconds {
		t.Errorf("after refusals: %+v", h)
	}
	g, err := f.s.SetAlertingSettings(ctx, f.admin, server.AlertingSettings{OverdueAfterSeconds: 48 * 3600, OfflineAlertAfterSeconds: 3 * 86400})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.AlertingSettings(ctx); got != g {
		t.Errorf("settings read back %+v, want %+v", got, g)
	}
	if h := f.hostHealth(t, f.host); h.OverdueAfterSeconds != 48*3600 || h.OfflineAlertAfterSeconds != 3*86400 {
		t.Errorf("global thresholds not in force: %+v", h)
	}
}

// TestHealthTransitionsPublishOnce: the evaluator publishes one event when
// a host enters overdue (or offline past its threshold) and one when it
// leaves, however often it runs, and remembers what it published in the
// host's row.
func TestHealthTransitionsPublishOnce(t *testing.T) {
	f := newJobsFixture(t)
	host, a := f.healthHost(t, "srv")
	f.backupNow(t, host, a, topics.JobSucceeded)
	quiet := enrollTestHost(t, f.s, "never-seen") // never connects: offline since its enrollment
	events, stop := f.s.Events().Subscribe()
	defer stop()
	check := func(want ...string) []server.Event {
		t.Helper()
		for range 2 {
			if err := f.s.CheckHealth(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		var got []server.Event
		for {
			select {
			case e := <-events:
				if e.Kind == server.EventHostOverdue || e.Kind == server.EventHostOffline {
					got = append(got, e)
				}
				continue
			default:
			}
			break
		}
		if len(got) != len(want) {
			t.Fatalf("events %+v, want %v", got, want)
		}
		for _, e := range got {
			if !slices.Contains(want, e.Kind+" "+e.HostID) || e.Health == nil {
				t.Fatalf("event %+v, want %v", e, want)
			}
		}
		slices.SortFunc(got, func(a, b server.Event) int { return strings.Compare(a.HostID+a.Kind, b.HostID+b.Kind) })
		return got
	}
	check()
	f.clock.Advance(26*time.Hour + time.Minute)
	a.Connect(t, 1)
	// The fixture's own host never connected either.
	got := check(server.EventHostOverdue+" "+host, server.EventHostOverdue+" "+quiet, server.EventHostOffline+" "+quiet,
		server.EventHostOverdue+" "+f.host, server.EventHostOffline+" "+f.host)
	for _, e := range got {
		if (e.Kind == server.EventHostOverdue && !e.Health.Overdue) || (e.Kind == server.EventHostOffline && !e.Health.OfflineAlert) {
			t.Errorf("entering: %s %+v", e.Kind, e.Health)
		}
		if e.HostID == host && (e.Health.HostName != "srv" || e.Health.LastSuccessAt == nil || e.Health.Health != server.HealthOverdue) {
			t.Errorf("srv entering overdue: %+v", e.Health)
		}
	}
	var marked int
	if err := f.s.DB().Get(&marked, `SELECT COUNT(*) FROM hosts WHERE overdue_since IS NOT NULL`); err != nil || marked != 3 {
		t.Errorf("overdue marks: %d %v", marked, err)
	}
	f.backupNow(t, host, a, topics.JobSucceeded)
	servertest.NewHostAgent(f.s, quiet).Connect(t, 1)
	for _, e := range check(server.EventHostOverdue+" "+host, server.EventHostOffline+" "+quiet) {
		if e.Health.Overdue && e.Kind == server.EventHostOverdue || e.Health.OfflineAlert && e.Kind == server.EventHostOffline {
			t.Errorf("leaving: %s %+v", e.Kind, e.Health)
		}
	}
}
