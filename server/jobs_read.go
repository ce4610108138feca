package server

import "context"

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
	out := []LogLine{}
	err := s.db.SelectContext(ctx, &out, `SELECT n, t, stream, text FROM job_log WHERE job_id = ? AND n > ? ORDER BY n LIMIT ?`,
		id, min(after, MaxJobLogLines), limit)
	if err != nil {
		return nil, internal("Could not read the job log", err)
	}
	return out, nil
}
