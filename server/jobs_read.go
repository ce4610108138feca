package server

import (
	"context"

	"github.com/restic-manager/restic-manager/topics"
)

// GetJob returns one job by its number.
func (s *Service) GetJob(ctx context.Context, id int64) (*Job, error) {
	r, err := loadJob(ctx, s.db, id)
	if err != nil {
		return nil, txError("Could not load the job", err)
	}
	j := r.job()
	return &j, nil
}

// ListJobs returns the jobs f selects, newest first.
func (s *Service) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, invalidf("Unknown job status %q.", clipText(string(f.Status)))
	}
	if f.Kind != "" && !f.Kind.Valid() {
		return nil, invalidf("Unknown job kind %q.", clipText(string(f.Kind)))
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	q := jobSelect + ` WHERE 1=1`
	var args []any
	if f.HostID != "" {
		q += ` AND j.host_id = ?`
		args = append(args, f.HostID)
	}
	if f.Status != "" {
		q += ` AND j.status = ?`
		args = append(args, string(f.Status))
	}
	if f.Kind != "" {
		q += ` AND j.kind = ?`
		args = append(args, string(f.Kind))
	}
	if f.BeforeID > 0 {
		q += ` AND j.id < ?`
		args = append(args, f.BeforeID)
	}
	q += ` ORDER BY j.id DESC LIMIT ?`
	args = append(args, f.Limit)
	var rows []jobRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, internal("Could not list jobs", err)
	}
	out := make([]Job, len(rows))
	for i := range rows {
		out[i] = rows[i].job()
	}
	return out, nil
}

// JobLog returns up to limit lines numbered above after, in order
// (limit: default 1000, at most 10000).
func (s *Service) JobLog(ctx context.Context, id int64, after uint64, limit int) ([]LogLine, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM jobs WHERE id = ?`, id); err != nil {
		return nil, internal("Could not read the job log", err)
	} else if n == 0 {
		return nil, notFoundf("There is no job %d.", id)
	}
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 10000)
	after = min(after, MaxJobLogLines)
	// The chunks holding lines above after, read until limit lines are
	// out: the first may start up to a batch before after
	// (jobs_log_chunk.go); each holds at least one line.
	rows, err := s.db.QueryxContext(ctx, `SELECT first_n, last_n, t_first, body FROM job_log_chunks
		WHERE job_id = ? AND first_n > ? AND last_n > ? ORDER BY first_n LIMIT ?`,
		id, int64(after)-topics.MaxLogBatchLines, after, limit)
	if err != nil {
		return nil, internal("Could not read the job log", err)
	}
	defer rows.Close()
	out := []LogLine{}
	for len(out) < limit && rows.Next() {
		var c logChunk
		if err := rows.StructScan(&c); err != nil {
			return nil, internal("Could not read the job log", err)
		}
		if out, err = c.lines(out, after, limit-len(out)); err != nil {
			return nil, internal("Could not read the job log", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, internal("Could not read the job log", err)
	}
	return out, nil
}
