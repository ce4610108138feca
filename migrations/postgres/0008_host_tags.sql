-- PostgreSQL twin of migrations/0008_host_tags.sql (same tables, columns and index names).
-- Host tags (#12 point 5): free labels such as "site:lyon" or "laptop" that
-- select hosts for fleet actions on the dashboard and the API, and route
-- notifications by host. A tag is lower-case and validated by the server
-- (server/fleet_tags.go: 1-40 of a-z 0-9 . _ - : / =, at most 20 per host);
-- tags never go on the wire to agents. The index serves "every host tagged
-- X".
CREATE TABLE host_tags (
    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (host_id, tag)
);
CREATE INDEX host_tags_tag ON host_tags(tag);
