-- PostgreSQL twin of migrations/0013_host_list.sql (same tables, columns and index names).
-- The host list at fleet scale (#15, server/fleet_hosts_page.go): keyset
-- pages in (name, id) order and filters that stay cheap at 10,000 hosts.
--
-- health is the host's health word (ok, overdue, failing, offline, pending;
-- server/fleet_health.go) as the health evaluator last computed it
-- (fleet_health_store.go: every minute, and for a host right after one of
-- its jobs changed). Health depends on the clock and on cron schedules, so
-- SQL cannot derive it; keeping the word in the row lets "health = failing"
-- and the per-state counts be one index read instead of evaluating the
-- whole fleet per request. A new host is "pending" until its first backup.
ALTER TABLE hosts ADD COLUMN health TEXT NOT NULL DEFAULT 'pending';

-- The active fleet in list order, and per health word in list order: the
-- first page of either is an index range, not a sort.
CREATE INDEX hosts_active_name ON hosts(name, id) WHERE revoked_at IS NULL;
CREATE INDEX hosts_active_health ON hosts(health, name, id) WHERE revoked_at IS NULL;
