-- PostgreSQL twin of migrations/0012_drills.sql (same tables, columns and index names).
-- Restore drills (#14): "drill" becomes a schedule kind. A drill schedule
-- may name the source group whose latest snapshot it draws from
-- (source_group_id, optional), and bounds its sample: drill_files files and
-- drill_max_mb MiB at most (0 = the defaults, topics.DefaultDrill*).
--
-- PostgreSQL changes the CHECK constraints in place (SQLite's twin rebuilds
-- the table); the names are the ones PostgreSQL gave 0004's constraints.
-- The last drill of a host is read from the jobs table (kind 'drill',
-- through jobs_host_kind): no column of its own.

ALTER TABLE schedules DROP CONSTRAINT schedules_kind_check;
ALTER TABLE schedules DROP CONSTRAINT schedules_check;
ALTER TABLE schedules ADD CONSTRAINT schedules_kind_check
    CHECK (kind IN ('backup', 'forget', 'prune', 'check', 'drill'));
ALTER TABLE schedules ADD COLUMN drill_files BIGINT NOT NULL DEFAULT 0 CHECK (drill_files >= 0);
ALTER TABLE schedules ADD COLUMN drill_max_mb BIGINT NOT NULL DEFAULT 0 CHECK (drill_max_mb >= 0);
ALTER TABLE schedules ADD CONSTRAINT schedules_check
    CHECK (kind = 'drill' OR (kind = 'backup') = (source_group_id IS NOT NULL));
ALTER TABLE schedules ADD CONSTRAINT schedules_drill_check
    CHECK (kind = 'drill' OR (drill_files = 0 AND drill_max_mb = 0));
