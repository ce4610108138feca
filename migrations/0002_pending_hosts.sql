-- Machines that announced themselves without a token and wait for an admin
-- (announce-and-approve, DESIGN §4.2). client_id is the pending MQTT client ID
-- (p_...), derived from identity_key, the agent's Ed25519 public key;
-- fingerprint is that key as a person reads it ("SHA256:..."). seal_key is the
-- agent's X25519 public key, signed by identity_key.
--
-- state: pending (listed for admins), approved (host created; sealed holds its
-- credentials until the agent has connected as the host), rejected (further
-- announces of this key are refused until the row expires). sealed is
-- encrypted to seal_key, so only the agent can open it: no MQTT secret is
-- stored in plaintext here. Expired rows are deleted by the server.
CREATE TABLE pending_hosts (
    id             INTEGER PRIMARY KEY,
    client_id      TEXT NOT NULL UNIQUE,
    hostname       TEXT NOT NULL,
    os             TEXT NOT NULL DEFAULT '',
    arch           TEXT NOT NULL DEFAULT '',
    agent_version  TEXT NOT NULL DEFAULT '',
    restic_version TEXT NOT NULL DEFAULT '',
    identity_key   BLOB NOT NULL,
    seal_key       BLOB NOT NULL,
    fingerprint    TEXT NOT NULL,
    source_addr    TEXT NOT NULL DEFAULT '',
    first_seen     TIMESTAMP NOT NULL,
    last_seen      TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
    host_id        TEXT REFERENCES hosts(id) ON DELETE CASCADE,
    sealed         BLOB
);
CREATE INDEX pending_hosts_expires ON pending_hosts(expires_at);
CREATE INDEX pending_hosts_state ON pending_hosts(state);
