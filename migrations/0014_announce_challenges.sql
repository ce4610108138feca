-- Open announce challenges (announce-and-approve, server/fleet_announce.go,
-- fleet_announce_challenges.go): the one nonce sent to each pending client,
-- kept in the store so that the proof may reach any server replica (an
-- external broker's shared subscription hands the hello to one and the
-- proof maybe to another). client_id is the pending client (p_...); conn the
-- broker's serial of the connection the challenge was sent on (0 on an
-- external broker, which reports none); source_addr where the hello came
-- from; hello the agent's validated announce.hello, kept for use after the
-- proof. A proof deletes the row (single use, right or wrong); the pending
-- sweep deletes expired ones; a hello replaces its client's row.
CREATE TABLE announce_challenges (
    client_id   TEXT PRIMARY KEY,
    nonce       BLOB NOT NULL,
    conn        INTEGER NOT NULL,
    source_addr TEXT NOT NULL,
    hello       BLOB NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX announce_challenges_expires ON announce_challenges(expires_at);
