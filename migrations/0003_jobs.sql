-- Jobs (#3): a host's repository, its desired and applied config version,
-- jobs with their versioned state, their logs, and the host's snapshot list.

-- config_version is the desired config of the host (down/config); it grows by
-- one with every change. applied_config_version is what the agent last
-- reported applying (hello, status).
ALTER TABLE hosts ADD COLUMN config_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN applied_config_version INTEGER NOT NULL DEFAULT 0;

-- Jobs. id is the short number people use ("job 42"); uid is the random id on
-- the wire (j_...), so a restored database can never make an agent's journal
-- answer a new job with an old one's outcome. version grows with every state
-- change (the queued job is version 1). command_id is the envelope id of the
-- run command, reused on every resend; cancel_command_id likewise for the
-- cancel command. spec is the JSON of topics.JobSpec (no secret: the
-- repository travels in the config). result is the JSON of topics.JobResult
-- from the terminal event. log_lines counts the stored log lines, log_max is
-- the highest stored line number (a gap when they differ) and
-- log_lines_expected the count the terminal event announced.
CREATE TABLE jobs (
    id                 INTEGER PRIMARY KEY,
    uid                TEXT NOT NULL UNIQUE,
    host_id            TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    spec               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'running', 'succeeded', 'warning',
                                                       'failed', 'canceled', 'expired', 'interrupted')),
    version            INTEGER NOT NULL DEFAULT 1,
    command_id         TEXT NOT NULL,
    cancel_command_id  TEXT NOT NULL DEFAULT '',
    config_version     INTEGER NOT NULL DEFAULT 0,
    expires_at         TIMESTAMP NOT NULL,
    created_by         TEXT NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    delivered_at       TIMESTAMP,
    started_at         TIMESTAMP,
    finished_at        TIMESTAMP,
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    exit_code          INTEGER,
    reason             TEXT NOT NULL DEFAULT '',
    detail             TEXT NOT NULL DEFAULT '',
    snapshot_id        TEXT NOT NULL DEFAULT '',
    result             TEXT,
    log_lines          INTEGER NOT NULL DEFAULT 0,
    log_max            INTEGER NOT NULL DEFAULT 0,
    log_lines_expected INTEGER
);
-- The list filters (newest first; the expiry sweeper finds the queued jobs
-- through jobs_status); a hello reads the host's jobs that may need a
-- command again (unfinished, or canceled before delivery:
-- server/jobs_hello.go).
CREATE INDEX jobs_host ON jobs(host_id, id DESC);
CREATE INDEX jobs_status ON jobs(status, id DESC);
CREATE INDEX jobs_kind ON jobs(kind, id DESC);
CREATE INDEX jobs_resend ON jobs(host_id) WHERE status IN ('queued', 'delivered', 'running')
    OR (status = 'canceled' AND cancel_requested = 1 AND delivered_at IS NULL);

-- A job's log, one row per line, numbered from 1 per job. The primary key
-- makes a resent batch insert nothing twice.
CREATE TABLE job_log (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    n      INTEGER NOT NULL,
    t      TIMESTAMP NOT NULL,
    stream TEXT NOT NULL,
    text   TEXT NOT NULL,
    PRIMARY KEY (job_id, n)
) WITHOUT ROWID;

-- A host's restic repository. sealed is the JSON of topics.RepositoryConfig
-- (URL, password, backend env) sealed with the master key and bound to the
-- host (AAD "repository:<host id>"); url is the URL with any password in it
-- redacted and env_names the JSON list of the backend variables' names, for
-- display. The state follows init_job_id: initializing until it ends, then
-- ready (initialized_at) or failed (init_reason). No row: state none.
CREATE TABLE repositories (
    host_id        TEXT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    sealed         BLOB NOT NULL,
    url            TEXT NOT NULL,
    env_names      TEXT NOT NULL DEFAULT '[]',
    state          TEXT NOT NULL CHECK (state IN ('initializing', 'ready', 'failed')),
    init_job_id    INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    init_reason    TEXT NOT NULL DEFAULT '',
    initialized_at TIMESTAMP,
    updated_at     TIMESTAMP NOT NULL
);

-- A host's snapshot list as last reported (restic snapshots --json), replaced
-- as a whole. info is the JSON of topics.SnapshotInfo.
CREATE TABLE snapshots (
    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    id      TEXT NOT NULL,
    time    TIMESTAMP NOT NULL,
    info    TEXT NOT NULL,
    PRIMARY KEY (host_id, id)
) WITHOUT ROWID;

-- Which report the host's list came from and when the agent took it; a
-- report taken earlier is never applied over it.
CREATE TABLE snapshot_lists (
    host_id     TEXT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    report      TEXT NOT NULL,
    taken_at    TIMESTAMP NOT NULL,
    applied_at  TIMESTAMP NOT NULL
);

-- Parts of multi-part snapshot reports until every part is here. snapshots
-- is the JSON list of the part's topics.SnapshotInfo.
CREATE TABLE snapshot_report_parts (
    host_id     TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    report      TEXT NOT NULL,
    part        INTEGER NOT NULL,
    parts       INTEGER NOT NULL,
    taken_at    TIMESTAMP NOT NULL,
    snapshots   TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (host_id, report, part)
) WITHOUT ROWID;
