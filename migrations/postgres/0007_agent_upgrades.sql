-- PostgreSQL twin of migrations/0007_agent_upgrades.sql (same tables, columns and index names).
-- Fleet upgrade (#11): the latest agent upgrade asked of each host. One row
-- per host; a new request replaces the row (the audit log keeps the
-- history). upgrade_id is the envelope id of the upgrade command on the
-- wire: the command is sent again after every hello until the agent
-- reports an outcome, and a report counts only for the upgrade it names.
-- The agent binary (version, sha256, size, download path) is stored with
-- the request, so a host that is offline now gets the build that was
-- asked for when it returns.
CREATE TABLE agent_upgrades (
    host_id      TEXT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    upgrade_id   TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version   TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    path         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('requested', 'delivered', 'failed', 'rolled_back', 'done')),
    reason       TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
