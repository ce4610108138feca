-- PostgreSQL twin of migrations/0006_hooks.sql (same tables, columns and index names).
-- Pre/post backup hooks (#10): shell script text the agent runs before and
-- after a backup, per source group and as host defaults. The bodies are
-- secrets (they run as root on the host and often hold database
-- credentials): each is AEAD-sealed with the master key and bound to its
-- row and column (server/hooks_store.go), NULL when there is none. The
-- has_* flags are not stored: "sealed IS NOT NULL" says it. The timeout
-- bounds each hook's run, in seconds (1..86400).
ALTER TABLE source_groups ADD COLUMN pre_hook_sealed BYTEA;
ALTER TABLE source_groups ADD COLUMN post_hook_sealed BYTEA;
ALTER TABLE source_groups ADD COLUMN hook_timeout_seconds BIGINT NOT NULL DEFAULT 600;
ALTER TABLE hosts ADD COLUMN pre_hook_sealed BYTEA;
ALTER TABLE hosts ADD COLUMN post_hook_sealed BYTEA;
ALTER TABLE hosts ADD COLUMN hook_timeout_seconds BIGINT NOT NULL DEFAULT 600;
