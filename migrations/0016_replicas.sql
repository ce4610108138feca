-- What several server replicas share through the store (#15,
-- docs/replicas.md).
--
-- Health notices (server/notify_watch.go): which health transition of a
-- host was told. overdue_since and offline_alert_since mark a transition
-- (CheckHealth); the leader's notification watch copies the mark into
-- *_told_since in the transaction that queues its notice, so a transition
-- stored while no replica's watch listened (a failover) is told by the
-- next leader, and none twice. The transitions stored so far count as
-- told.
ALTER TABLE hosts ADD COLUMN overdue_told_since TIMESTAMP;
ALTER TABLE hosts ADD COLUMN offline_told_since TIMESTAMP;
UPDATE hosts SET overdue_told_since = overdue_since, offline_told_since = offline_alert_since;

-- Download relays (server/browse_download_relay.go): a download's upload
-- that reaches another replica than the one whose person waits for it is
-- passed through the store in bounded chunks. token_hash is the SHA-256
-- of the upload token; owner the replica the download started on, relay
-- the one that took the upload (empty while it waits); state waiting,
-- claimed, gone, done or failed; chunks how many the relay wrote; error the
-- upload's failure; outcome how the download ended, as the owner says it
-- ('' complete); expires_at when a replica that vanished leaves the rows
-- to the next download's prune. The owner deletes each chunk it read.
CREATE TABLE download_relays (
    token_hash BLOB PRIMARY KEY,
    host_id    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    relay      TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    chunks     INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    outcome    TEXT,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX download_relays_expires ON download_relays(expires_at);
CREATE TABLE download_chunks (
    token_hash BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (token_hash, seq)
);

-- Announce limits across replicas (server/fleet_announce_limits.go): the
-- pending clients provisioned on an external broker (client_id, the
-- address its bootstrap request came from, when it expires), so that the
-- caps on them (in all, per address) hold for the whole fleet and a hello
-- on another replica than the bootstrap knows its address; and the
-- per-address announce counters (kind: hello or bootstrap), each counting
-- n requests in the minute from window_start, its first request.
CREATE TABLE pending_clients (
    client_id   TEXT PRIMARY KEY,
    source_addr TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX pending_clients_expires ON pending_clients(expires_at);
CREATE TABLE announce_rates (
    kind         TEXT NOT NULL,
    source_addr  TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (kind, source_addr)
);
