-- Users of the web dashboard and the API. Passwords are argon2id hashes in PHC form.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    disabled_at   TIMESTAMP
);

-- Browser sessions. Only a SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    remote_addr  TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Bearer tokens for the JSON API, acting as a user. Only a SHA-256 is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label        TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);

-- Enrolled machines. id is the MQTT username and client ID (h_...).
-- mqtt_secret_hash is SHA-256 of a 256-bit random secret: a hash suffices for a
-- secret with that much entropy, and it keeps broker auth cheap at fleet scale.
CREATE TABLE hosts (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    hostname         TEXT NOT NULL DEFAULT '',
    os               TEXT NOT NULL DEFAULT '',
    arch             TEXT NOT NULL DEFAULT '',
    agent_version    TEXT NOT NULL DEFAULT '',
    restic_version   TEXT NOT NULL DEFAULT '',
    boot_id          TEXT NOT NULL DEFAULT '',
    conn_gen         INTEGER NOT NULL DEFAULT 0,
    mqtt_secret_hash BLOB NOT NULL,
    online           INTEGER NOT NULL DEFAULT 0,
    last_seen        TIMESTAMP,
    connected_at     TIMESTAMP,
    remote_addr      TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    revoked_at       TIMESTAMP
);

-- Single-use enrollment tokens. Only a SHA-256 of the token is stored.
CREATE TABLE enrollment_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    host_name  TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    host_id    TEXT REFERENCES hosts(id) ON DELETE SET NULL,
    revoked_at TIMESTAMP
);

-- MQTT accounts that may only read rm/v1/monitor/#. Username is mon_<name>.
CREATE TABLE monitor_accounts (
    name        TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);

-- Every change: who, what, when, from where. details is JSON and never holds a secret.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    via         TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);

-- Server-wide secrets and settings; value is AEAD-sealed when sealed = 1.
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  BLOB NOT NULL,
    sealed INTEGER NOT NULL DEFAULT 0
);
