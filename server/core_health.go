package server

import (
	"context"
	"time"
)

// healthSetting is the settings row /healthz rewrites to prove the store
// takes writes.
const healthSetting = "health_checked_at"

// CheckStore proves the database takes a write, the way every change the
// server makes needs it: it rewrites one small settings row. A database
// that cannot be written (disk full, file or directory read-only, locked by
// another process past its busy timeout) fails it with one sentence. ctx
// bounds the wait.
func (s *Service) CheckStore(ctx context.Context) error {
	if err := s.putSetting(ctx, healthSetting, []byte(s.now().Format(time.RFC3339)), false); err != nil {
		return &Error{Code: CodeUnavailable, Err: err,
			Message: "The database cannot be written; check the disk space and the data directory's permissions."}
	}
	return nil
}
