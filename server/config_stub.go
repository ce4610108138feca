package server

// TEMPORARY: placeholders so the web layer compiles while the domain side of
// #4 is written. The server work replaces this file entirely.

import (
	"context"

	"github.com/restic-manager/restic-manager/topics"
)

var errConfigNotYet = &Error{Code: CodeInvalid, Message: "not implemented yet"}

func (s *Service) ListSourceGroups(ctx context.Context, hostID string) ([]SourceGroup, error) {
	return nil, errConfigNotYet
}
func (s *Service) GetSourceGroup(ctx context.Context, hostID, ref string) (*SourceGroup, error) {
	return nil, errConfigNotYet
}
func (s *Service) CreateSourceGroup(ctx context.Context, a Actor, hostID string, in SourceGroupInput) (*SourceGroup, error) {
	return nil, errConfigNotYet
}
func (s *Service) UpdateSourceGroup(ctx context.Context, a Actor, hostID, ref string, in SourceGroupInput) (*SourceGroup, error) {
	return nil, errConfigNotYet
}
func (s *Service) DeleteSourceGroup(ctx context.Context, a Actor, hostID, ref string) error {
	return errConfigNotYet
}
func (s *Service) ListSchedules(ctx context.Context, hostID string) ([]Schedule, error) {
	return nil, errConfigNotYet
}
func (s *Service) CreateSchedule(ctx context.Context, a Actor, hostID string, in ScheduleInput) (*Schedule, error) {
	return nil, errConfigNotYet
}
func (s *Service) UpdateSchedule(ctx context.Context, a Actor, hostID string, id int64, in ScheduleInput) (*Schedule, error) {
	return nil, errConfigNotYet
}
func (s *Service) DeleteSchedule(ctx context.Context, a Actor, hostID string, id int64) error {
	return errConfigNotYet
}
func (s *Service) SetSchedulePaused(ctx context.Context, a Actor, hostID string, id int64, paused bool) (*Schedule, error) {
	return nil, errConfigNotYet
}
func (s *Service) SetBandwidth(ctx context.Context, a Actor, hostID string, b topics.Bandwidth) error {
	return errConfigNotYet
}
func (s *Service) GetConfigStatus(ctx context.Context, hostID string) (*ConfigStatus, error) {
	return nil, errConfigNotYet
}
func (s *Service) FleetPlans(ctx context.Context) (map[string]HostPlan, error) {
	return nil, errConfigNotYet
}
func (s *Service) PreviewRetention(ctx context.Context, a Actor, hostID, groupRef string, policy topics.Retention) (*Job, error) {
	return nil, errConfigNotYet
}
