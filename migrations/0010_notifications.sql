-- Notifications (#13, server/notify_*.go): channels an admin sets up, the
-- durable outbox of messages to deliver through them, and per-host settings.
--
-- A channel's URL and signing secret are secrets: they live only in
-- "sealed" (AES-GCM under the master key, bound to the channel's id);
-- url_hint is what the UI and the API show back (scheme and host only).
-- events and tags are JSON arrays: the events the channel wants and, when
-- not empty, the host tags it is limited to. throttle_minutes > 0 lets one
-- message per host per event through in that window; digest_hour (UTC)
-- holds messages back and sends one summary a day instead.
CREATE TABLE notification_channels (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('webhook', 'shoutrrr', 'healthchecks')),
    sealed           BLOB NOT NULL,
    url_hint         TEXT NOT NULL,
    has_secret       INTEGER NOT NULL DEFAULT 0,
    events           TEXT NOT NULL DEFAULT '[]',
    tags             TEXT NOT NULL DEFAULT '[]',
    throttle_minutes INTEGER NOT NULL DEFAULT 0 CHECK (throttle_minutes >= 0),
    digest_hour      INTEGER CHECK (digest_hour IS NULL OR digest_hour BETWEEN 0 AND 23),
    last_digest_at   TIMESTAMP,
    enabled          INTEGER NOT NULL DEFAULT 1,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);

-- The outbox: one row per message per channel, written in the same
-- transaction as what caused it (a job's final state, ...), delivered by
-- the worker with retries and backoff until sent or given up. host_id has
-- no foreign key: a delivery outlives a revoked host, as the audit log
-- does. payload is the JSON the webhook gets (no secrets: the link is made
-- absolute when sent). state: pending (due at next_at), held (waits for the
-- channel's daily digest), digested (went out in one), sent, failed (gave
-- up after the last attempt).
CREATE TABLE notification_deliveries (
    id         INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    event      TEXT NOT NULL,
    host_id    TEXT NOT NULL DEFAULT '',
    host_name  TEXT NOT NULL DEFAULT '',
    job_id     INTEGER,
    payload    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'held', 'digested', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    TIMESTAMP NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    sent_at    TIMESTAMP
);
CREATE INDEX notification_deliveries_due ON notification_deliveries(next_at) WHERE state = 'pending';
CREATE INDEX notification_deliveries_recent ON notification_deliveries(channel_id, host_id, event, created_at);
CREATE INDEX notification_deliveries_held ON notification_deliveries(channel_id) WHERE state = 'held';

-- Per host: muted (no message about it on any channel) and the slug its
-- pings use on healthchecks channels (empty: the host's name).
CREATE TABLE notification_host_settings (
    host_id    TEXT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    muted      INTEGER NOT NULL DEFAULT 0,
    check_slug TEXT NOT NULL DEFAULT ''
);
