-- Source groups, schedules, retention and bandwidth caps (#4). They travel in
-- the host's versioned down/config; the agent runs the schedules itself.

-- A named set of paths a host backs up together. Its wire id is "sg_<id>";
-- AUTOINCREMENT so that an id is never given again after a delete (an agent
-- may still report runs of a deleted group's schedules). paths, excludes,
-- exclude_files and tags are JSON lists of strings; retention is the JSON of
-- topics.Retention or NULL. Names are unique per host ignoring case (they are
-- ASCII by validation, so NOCASE is enough).
CREATE TABLE source_groups (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id             TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    paths               TEXT NOT NULL,
    excludes            TEXT NOT NULL DEFAULT '[]',
    exclude_files       TEXT NOT NULL DEFAULT '[]',
    exclude_caches      INTEGER NOT NULL DEFAULT 0,
    one_file_system     INTEGER NOT NULL DEFAULT 0,
    tags                TEXT NOT NULL DEFAULT '[]',
    retention           TEXT,
    forget_after_backup INTEGER NOT NULL DEFAULT 0,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX source_groups_name ON source_groups(host_id, name COLLATE NOCASE);

-- When the agent runs a job by itself: a backup of one source group, or a
-- host-wide forget, prune or check. Wire id "sch_<id>", never reused (as
-- above). cron is read in time_zone (IANA; '' = UTC) with topics.CronParser.
-- Deleting a group deletes its schedules.
CREATE TABLE schedules (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id          TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('backup', 'forget', 'prune', 'check')),
    source_group_id  INTEGER REFERENCES source_groups(id) ON DELETE CASCADE,
    cron             TEXT NOT NULL,
    time_zone        TEXT NOT NULL DEFAULT '',
    catch_up         INTEGER NOT NULL DEFAULT 1,
    jitter_seconds   INTEGER NOT NULL DEFAULT 0,
    read_data_subset TEXT NOT NULL DEFAULT '',
    paused           INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    CHECK ((kind = 'backup') = (source_group_id IS NOT NULL))
);
CREATE INDEX schedules_host ON schedules(host_id);
CREATE INDEX schedules_group ON schedules(source_group_id);

-- Host-wide caps on restic's traffic to the repository, KiB/s, 0 = none.
ALTER TABLE hosts ADD COLUMN bandwidth_up_kbps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN bandwidth_down_kbps INTEGER NOT NULL DEFAULT 0;

-- A job the agent started from a schedule: the schedule (NULL once deleted,
-- or when the schedule was deleted before the server heard of the run) and
-- the cron slot it ran for. scheduled_for is set only on such jobs: it is
-- what marks a job the agent created by itself. source_group_id is the
-- group a backup was of (from the UI/API or a schedule).
ALTER TABLE jobs ADD COLUMN schedule_id INTEGER REFERENCES schedules(id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN scheduled_for TIMESTAMP;
ALTER TABLE jobs ADD COLUMN source_group_id INTEGER REFERENCES source_groups(id) ON DELETE SET NULL;
-- "Last run" of a schedule and "last backup" of a group: the newest job by id.
CREATE INDEX jobs_schedule ON jobs(schedule_id, id DESC) WHERE schedule_id IS NOT NULL;
CREATE INDEX jobs_source_group ON jobs(source_group_id, id DESC) WHERE source_group_id IS NOT NULL;
-- "Last backup" of every host at once (FleetPlans): one index seek per host.
CREATE INDEX jobs_host_kind ON jobs(host_id, kind, id DESC);
