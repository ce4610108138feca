-- Restore drills (#14): "drill" becomes a schedule kind. A drill schedule
-- may name the source group whose latest snapshot it draws from
-- (source_group_id, optional), and bounds its sample: drill_files files and
-- drill_max_mb MiB at most (0 = the defaults, topics.DefaultDrill*).
--
-- SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt. Migrations run in a transaction with foreign keys on, where
-- PRAGMA foreign_keys cannot be turned off: dropping the old table fires
-- jobs.schedule_id's ON DELETE SET NULL, so the jobs' schedule ids are kept
-- aside first and put back after the rename (ids are copied unchanged).
-- The last drill of a host is read from the jobs table (kind 'drill',
-- through jobs_host_kind): no column of its own.

CREATE TABLE schedules_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id          TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('backup', 'forget', 'prune', 'check', 'drill')),
    source_group_id  INTEGER REFERENCES source_groups(id) ON DELETE CASCADE,
    cron             TEXT NOT NULL,
    time_zone        TEXT NOT NULL DEFAULT '',
    catch_up         INTEGER NOT NULL DEFAULT 1,
    jitter_seconds   INTEGER NOT NULL DEFAULT 0,
    read_data_subset TEXT NOT NULL DEFAULT '',
    paused           INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    drill_files      INTEGER NOT NULL DEFAULT 0 CHECK (drill_files >= 0),
    drill_max_mb     INTEGER NOT NULL DEFAULT 0 CHECK (drill_max_mb >= 0),
    CHECK (kind = 'drill' OR (kind = 'backup') = (source_group_id IS NOT NULL)),
    CHECK (kind = 'drill' OR (drill_files = 0 AND drill_max_mb = 0))
);
INSERT INTO schedules_new (id, host_id, kind, source_group_id, cron, time_zone, catch_up, jitter_seconds,
        read_data_subset, paused, created_at, updated_at)
    SELECT id, host_id, kind, source_group_id, cron, time_zone, catch_up, jitter_seconds,
        read_data_subset, paused, created_at, updated_at FROM schedules;
-- AUTOINCREMENT's high-water mark goes along: a deleted schedule's id is
-- never given again (an agent may still report runs of it).
DELETE FROM sqlite_sequence WHERE name = 'schedules_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'schedules_new', seq FROM sqlite_sequence WHERE name = 'schedules';

CREATE TEMP TABLE drill_migration_job_schedules AS
    SELECT id, schedule_id FROM jobs WHERE schedule_id IS NOT NULL;
DROP TABLE schedules;
ALTER TABLE schedules_new RENAME TO schedules;
UPDATE jobs SET schedule_id = (SELECT m.schedule_id FROM drill_migration_job_schedules m WHERE m.id = jobs.id)
    WHERE id IN (SELECT id FROM drill_migration_job_schedules);
DROP TABLE drill_migration_job_schedules;

CREATE INDEX schedules_host ON schedules(host_id);
CREATE INDEX schedules_group ON schedules(source_group_id);
