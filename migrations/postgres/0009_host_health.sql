-- PostgreSQL twin of migrations/0009_host_health.sql (same tables, columns and index names).
-- Host health (#13, server/fleet_health.go): when a host counts as overdue
-- (no successful backup for longer than expected) and as offline past its
-- own threshold, so that a laptop that is off on purpose is not an alarm.
--
-- overdue_after_seconds overrides the expected interval the server derives
-- from the host's backup schedules (or the global threshold, settings key
-- alerting.overdue_after_seconds, for a host without one); NULL: no
-- override. offline_alert_after_seconds: how long the host may be offline
-- before it counts as offline in the health sense; NULL: the global
-- default (settings key alerting.offline_alert_after_seconds, 24 h).
ALTER TABLE hosts ADD COLUMN overdue_after_seconds BIGINT CHECK (overdue_after_seconds IS NULL OR overdue_after_seconds > 0);
ALTER TABLE hosts ADD COLUMN offline_alert_after_seconds BIGINT CHECK (offline_alert_after_seconds IS NULL OR offline_alert_after_seconds > 0);

-- What the health evaluator last published for the host (EventHostOverdue,
-- EventHostOffline), kept so that a restart neither repeats nor loses a
-- transition: NULL, or since when the host is overdue / offline past its
-- threshold.
ALTER TABLE hosts ADD COLUMN overdue_since TIMESTAMPTZ;
ALTER TABLE hosts ADD COLUMN offline_alert_since TIMESTAMPTZ;

-- The newest successful backup of a host (last_success_at): one index seek.
CREATE INDEX jobs_host_backup_success ON jobs(host_id, finished_at DESC)
    WHERE kind = 'backup' AND status IN ('succeeded', 'warning');
