-- PostgreSQL twin of migrations/0011_repo_stats.sql (same tables, columns and index names).
-- Repository statistics over time (#13, server/ingest_stats.go): what
-- `restic stats --mode raw-data --json` said about a host's repository,
-- recorded by a "stats" job (queued daily by the server and after every
-- prune). One row per host per UTC day — a later run the same day
-- replaces it — kept for two years (StatsRetention), older rows dropped
-- when a new one is stored.
--
-- total_size is the bytes the repository stores (packed, compressed);
-- total_uncompressed_size is what the blobs hold before compression
-- (NULL: restic older than 0.14 does not report it, or a repository of
-- format 1). blobs and snapshots are restic's total_blob_count and
-- snapshots_count. job_id names the stats job (no foreign key: the row
-- outlives a deleted job, as the figures stay true).
CREATE TABLE repository_stats (
    host_id                 TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    day                     TEXT NOT NULL,
    at                      TIMESTAMPTZ NOT NULL,
    total_size              BIGINT NOT NULL CHECK (total_size >= 0),
    total_uncompressed_size BIGINT CHECK (total_uncompressed_size IS NULL OR total_uncompressed_size >= 0),
    blobs                   BIGINT NOT NULL DEFAULT 0,
    snapshots               BIGINT NOT NULL DEFAULT 0,
    job_id                  BIGINT,
    PRIMARY KEY (host_id, day)
);

CREATE INDEX repository_stats_at ON repository_stats(at);
