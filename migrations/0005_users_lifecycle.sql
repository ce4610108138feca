-- Users and API tokens over their whole life (#9): a TOTP second factor with
-- single-use recovery codes, the short-lived state between the password and
-- the code at sign-in, and what disabling, deleting and demoting need.

-- totp_secret is the confirmed secret, AEAD-sealed with the master key and
-- bound to the user (server/totp.go); totp_pending is a secret being
-- enrolled, sealed the same way, until the user confirms it with a code.
-- totp_last_step is the last 30-second step a code was accepted for, so a
-- code cannot be used twice. totp_failures counts wrong codes (and recovery
-- codes) since totp_failures_since, across sign-in attempts.
ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_failures_since TIMESTAMP;
ALTER TABLE users ADD COLUMN password_changed_at TIMESTAMP;

-- Recovery codes: random 80-bit values, stored as SHA-256 only; each works once.
CREATE TABLE totp_recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at   TIMESTAMP
);
CREATE INDEX totp_recovery_codes_user ON totp_recovery_codes(user_id);

-- Sign-in challenges: the password was right, the second factor is still
-- owed. The browser holds a random token (a cookie); only its hash is kept.
-- No session exists until the code is right.
CREATE TABLE login_challenges (
    token_hash  BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    remote_addr TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX login_challenges_user ON login_challenges(user_id);

-- Listing a user's tokens and ending them when the user goes.
CREATE INDEX api_tokens_user ON api_tokens(user_id);
