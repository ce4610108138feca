package server

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// Host health (#13): is the host backing up as it should? One state per
// host, computed from its last successful backup, its last finished backup,
// its backup schedules, its presence and the thresholds (per host, or the
// global alerting settings, fleet_health_settings.go). Nothing here is
// stored except what the evaluator last published (fleet_health_watch.go).

// HealthState is a host's one health word.
type HealthState string

// The health states, in the order they win when several hold: a host
// offline past its threshold is "offline" (that is the reason it does not
// back up), then a failed last backup is "failing", then "overdue", then a
// host that has not backed up yet and is not overdue is "pending".
const (
	HealthOffline HealthState = "offline"
	HealthFailing HealthState = "failing"
	HealthOverdue HealthState = "overdue"
	HealthPending HealthState = "pending"
	HealthOK      HealthState = "ok"
)

// HealthStates lists every state in the order above.
var HealthStates = []HealthState{HealthOK, HealthOverdue, HealthFailing, HealthOffline, HealthPending}

// HostAlerting is a host's own thresholds; nil means the global setting
// (for OverdueAfterSeconds: the interval derived from its schedules, or the
// global threshold for a host without one). It is what PUT
// /api/v1/hosts/{id}/alerting takes and answers.
type HostAlerting struct {
	OverdueAfterSeconds      *int64 `db:"overdue_after_seconds" json:"overdue_after_seconds"`
	OfflineAlertAfterSeconds *int64 `db:"offline_alert_after_seconds" json:"offline_alert_after_seconds"`
}

// HostHealth is the health part of a Host (its JSON fields sit beside the
// host's own).
type HostHealth struct {
	Health HealthState `json:"health"`
	// LastSuccessAt is when the newest backup that made a snapshot
	// (succeeded, or warning: some files unreadable) finished.
	LastSuccessAt *time.Time `json:"last_success_at"`
	// Overdue: LastSuccessAt (the enrollment for a host that never backed
	// up) is older than OverdueAfterSeconds.
	Overdue bool `json:"overdue"`
	// OfflineAlert: the host is offline for longer than
	// OfflineAlertAfterSeconds (since it was last seen, or enrolled).
	OfflineAlert bool `json:"offline_alert"`
	// NextRunAt is the earliest next slot of its unpaused backup schedules.
	NextRunAt *time.Time `json:"next_run_at"`
	// ExpectedIntervalSeconds is the longest gap between the slots of its
	// unpaused backup schedules; nil without one.
	ExpectedIntervalSeconds *int64 `json:"expected_interval_seconds"`
	// OverdueAfterSeconds is the threshold in force: the host's own, or
	// the expected interval plus a grace, or the global threshold.
	OverdueAfterSeconds int64 `json:"overdue_after_seconds"`
	// OfflineAlertAfterSeconds is the offline threshold in force.
	OfflineAlertAfterSeconds int64 `json:"offline_alert_after_seconds"`
	// Alerting is the host's own thresholds (nil fields: the defaults).
	Alerting HostAlerting `json:"alerting"`
}

// healthFacts is what one host's health is computed from.
type healthFacts struct {
	CreatedAt   time.Time
	Online      bool
	LastSeen    *time.Time
	LastSuccess *time.Time
	LastStatus  topics.JobState // of the newest finished backup; "" for none
	Schedules   []topics.Schedule
	Own         HostAlerting
}

// evaluateHealth is the rule, with no I/O: facts, the global settings, now.
// si is hostInterval(facts.Schedules, now), passed in so the rule stays
// free of the cache.
func evaluateHealth(f healthFacts, si scheduleInterval, g AlertingSettings, now time.Time) HostHealth {
	h := HostHealth{LastSuccessAt: utcTime(f.LastSuccess), NextRunAt: utcTime(si.Next), Alerting: f.Own}
	overdueAfter := time.Duration(g.OverdueAfterSeconds) * time.Second
	if si.Interval > 0 {
		secs := int64(si.Interval / time.Second)
		h.ExpectedIntervalSeconds = &secs
		overdueAfter = si.Interval + si.grace()
	}
	if f.Own.OverdueAfterSeconds != nil {
		overdueAfter = time.Duration(*f.Own.OverdueAfterSeconds) * time.Second
	}
	offlineAfter := time.Duration(g.OfflineAlertAfterSeconds) * time.Second
	if f.Own.OfflineAlertAfterSeconds != nil {
		offlineAfter = time.Duration(*f.Own.OfflineAlertAfterSeconds) * time.Second
	}
	h.OverdueAfterSeconds, h.OfflineAlertAfterSeconds = int64(overdueAfter/time.Second), int64(offlineAfter/time.Second)

	since := f.CreatedAt // never backed up: counted from the enrollment
	if f.LastSuccess != nil {
		since = *f.LastSuccess
	}
	h.Overdue = now.Sub(since) > overdueAfter
	if !f.Online {
		seen := f.CreatedAt
		if f.LastSeen != nil {
			seen = *f.LastSeen
		}
		h.OfflineAlert = now.Sub(seen) > offlineAfter
	}
	switch {
	case h.OfflineAlert:
		h.Health = HealthOffline
	case f.LastStatus == topics.JobFailed || f.LastStatus == topics.JobInterrupted:
		h.Health = HealthFailing
	case h.Overdue:
		h.Health = HealthOverdue
	case f.LastSuccess == nil:
		h.Health = HealthPending
	default:
		h.Health = HealthOK
	}
	return h
}

func utcTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// fillHealth sets the health of every host in hosts (with their live
// presence already overlaid) in four queries, whatever the fleet's size;
// ids, when not nil, restricts the reads to those hosts (a page, GetHost).
func (s *Service) fillHealth(ctx context.Context, hosts []Host, ids []string) error {
	q := s.db
	if len(hosts) == 0 {
		return nil
	}
	scope, args := hostScope(ids)
	g, err := s.alertingSettings(ctx)
	if err != nil {
		return err
	}
	var own []struct {
		ID string `db:"id"`
		HostAlerting
	}
	if err := sqlx.SelectContext(ctx, q, &own, `SELECT id, overdue_after_seconds, offline_alert_after_seconds
		FROM hosts h WHERE `+scope, args...); err != nil {
		return err
	}
	var scheds []struct {
		HostID   string `db:"host_id"`
		Cron     string `db:"cron"`
		TimeZone string `db:"time_zone"`
		Jitter   int    `db:"jitter_seconds"`
	}
	if err := sqlx.SelectContext(ctx, q, &scheds, `SELECT s.host_id, s.cron, s.time_zone, s.jitter_seconds
		FROM schedules s JOIN hosts h ON h.id = s.host_id
		WHERE s.kind = 'backup' AND s.paused = 0 AND `+scope, args...); err != nil {
		return err
	}
	var runs []struct {
		HostID     string          `db:"host_id"`
		Status     topics.JobState `db:"status"`
		FinishedAt *time.Time      `db:"finished_at"`
		Success    bool            `db:"success"`
	}
	// Per host: its newest successful backup and its newest finished one
	// (each one index seek).
	if err := sqlx.SelectContext(ctx, q, &runs, `
		SELECT h.id AS host_id, j.status, j.finished_at, 1 AS success FROM hosts h
		JOIN jobs j ON j.id = (SELECT id FROM jobs WHERE host_id = h.id AND kind = 'backup'
			AND status IN ('succeeded', 'warning') ORDER BY finished_at DESC LIMIT 1)
		WHERE `+scope+`
		UNION ALL
		SELECT h.id, j.status, j.finished_at, 0 FROM hosts h
		JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE host_id = h.id AND kind = 'backup'
			AND status IN ('succeeded', 'warning', 'failed', 'interrupted'))
		WHERE `+scope, append(append([]any{}, args...), args...)...); err != nil {
		return err
	}
	facts := make(map[string]*healthFacts, len(hosts))
	for i := range hosts {
		h := &hosts[i]
		facts[h.ID] = &healthFacts{CreatedAt: h.CreatedAt, Online: h.Online, LastSeen: h.LastSeen}
	}
	for _, o := range own {
		if f := facts[o.ID]; f != nil {
			f.Own = o.HostAlerting
		}
	}
	for _, sc := range scheds {
		if f := facts[sc.HostID]; f != nil {
			f.Schedules = append(f.Schedules, topics.Schedule{Cron: sc.Cron, TimeZone: sc.TimeZone, JitterSeconds: sc.Jitter})
		}
	}
	for _, r := range runs {
		f := facts[r.HostID]
		switch {
		case f == nil:
		case r.Success:
			f.LastSuccess = r.FinishedAt
		default:
			f.LastStatus = r.Status
		}
	}
	now := s.now()
	for i := range hosts {
		f := facts[hosts[i].ID]
		hosts[i].HostHealth = evaluateHealth(*f, hostInterval(f.Schedules, now), g, now)
	}
	return nil
}

// HealthChange is the payload of EventHostOverdue and EventHostOffline:
// the host's name and its whole health at the transition (LastSuccessAt,
// Overdue, OfflineAlert, the thresholds in force, ...).
type HealthChange struct {
	HostName string
	HostHealth
}
