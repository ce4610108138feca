-- A job's log, one row per stored log batch (a "chunk") instead of one row
-- per line: the ingest writer inserts one row per topics.JobLog message, so
-- the lines it stores a second are bounded by the messages, not the lines.
-- A chunk holds the consecutive lines first_n..last_n (no gaps, at most
-- topics.MaxLogBatchLines of them); chunks of a job never overlap, so every
-- line is stored once (server/ingest_jobs.go splits a resend that overlaps
-- differently into the runs not stored yet). t_first is the time of line
-- first_n; body is a JSON array with one [offset, stream, text] per line, in
-- order, offset being the line's time in microseconds after t_first
-- (negative if the agent's clock stepped back): server/jobs_log_chunk.go.
CREATE TABLE job_log_chunks (
    job_id  BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    first_n BIGINT NOT NULL,
    last_n  BIGINT NOT NULL,
    t_first TIMESTAMPTZ NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (job_id, first_n)
);

-- The old rows become chunks of at most 1,000 consecutive lines: island is
-- constant along a run of consecutive numbers (a gap starts a new one),
-- bucket cuts a run into thousands.
INSERT INTO job_log_chunks (job_id, first_n, last_n, t_first, body)
SELECT job_id, MIN(n), MAX(n), MIN(t_first),
       json_agg(json_build_array(off, stream, text) ORDER BY n)::text
FROM (
    SELECT job_id, n, stream, text, island, bucket, t_first,
           ROUND(EXTRACT(EPOCH FROM (t - t_first)) * 1000000)::BIGINT AS off
    FROM (
        SELECT job_id, n, t, stream, text, island, bucket,
               FIRST_VALUE(t) OVER (PARTITION BY job_id, island, bucket ORDER BY n) AS t_first
        FROM (
            SELECT job_id, n, t, stream, text, island,
                   (ROW_NUMBER() OVER (PARTITION BY job_id, island ORDER BY n) - 1) / 1000 AS bucket
            FROM (
                SELECT job_id, n, t, stream, text, n - ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY n) AS island
                FROM job_log
            ) AS islands
        ) AS buckets
    ) AS based
) AS lines
GROUP BY job_id, island, bucket;

DROP TABLE job_log;
