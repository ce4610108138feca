package server

// TEMPORARY: placeholders so the web layer compiles while the domain side of
// #3 is being written. The server work replaces this file entirely.

import (
	"context"

	"github.com/restic-manager/restic-manager/topics"
)

var errNotYet = &Error{Code: CodeInvalid, Message: "not implemented yet"}

func (s *Service) SetRepository(ctx context.Context, a Actor, hostID string, in RepositoryInput) (*Job, error) {
	return nil, errNotYet
}
func (s *Service) GetRepository(ctx context.Context, hostID string) (*RepositoryStatus, error) {
	return nil, errNotYet
}
func (s *Service) ReinitRepository(ctx context.Context, a Actor, hostID, confirmName string) (*Job, error) {
	return nil, errNotYet
}
func (s *Service) CreateJob(ctx context.Context, a Actor, hostID string, req JobRequest) (*Job, error) {
	return nil, errNotYet
}
func (s *Service) CancelJob(ctx context.Context, a Actor, id int64) (*Job, error) { return nil, errNotYet }
func (s *Service) GetJob(ctx context.Context, id int64) (*Job, error)             { return nil, errNotYet }
func (s *Service) ListJobs(ctx context.Context, f JobFilter) ([]Job, error)       { return nil, errNotYet }
func (s *Service) JobLog(ctx context.Context, id int64, after uint64, limit int) ([]LogLine, error) {
	return nil, errNotYet
}
func (s *Service) JobProgress(id int64) (*topics.JobProgress, bool) { return nil, false }
func (s *Service) Snapshots(ctx context.Context, hostID string) (*SnapshotList, error) {
	return nil, errNotYet
}
