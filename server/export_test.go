package server

import (
	"context"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Exports for the black-box tests in package server_test.

// HashSlots is how many password hashes may run at once.
var HashSlots = cap(hashSlots)

// PasswordHashesPeak is the most password hashes that ran at once since
// ResetPasswordHashesPeak.
func PasswordHashesPeak() int64 { return hashesPeak.Load() }

// ResetPasswordHashesPeak starts a new high-water mark from what runs now.
func ResetPasswordHashesPeak() { hashesPeak.Store(hashesRunning.Load()) }

// Internals the tests in package server_test reach: constants they count
// with, the password hash, the id keys, and the sweeps and builders a test
// runs at a time it chooses.
const (
	SealedPrefix      = sealedPrefix
	TOTPFailWindow    = totpFailWindow
	LoginFailsPerPair = loginFailsPerPair
	StagedPartsTTL    = stagedPartsTTL
)

var (
	HashPassword        = func(pw string) (string, error) { return hashPasswordCost(pw, DefaultPasswordHashCost()) }
	HashPasswordCost    = hashPasswordCost
	VerifyPassword      = verifyPassword
	RedactRepositoryURL = redactRepositoryURL
	GroupKey            = groupKey
	ScheduleKey         = scheduleKey
)

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// IngestOptions are the options the service runs its writer with.
func (s *Service) IngestOptions() IngestOptions { return s.ingestOpts }

// JobOptions are the options the service runs its job sweeper with.
func (s *Service) JobOptions() JobOptions { return s.jobOpts }

// HostConfig builds host's config as delivered on down/config.
func (s *Service) HostConfig(ctx context.Context, hostID string) (*topics.Config, error) {
	return s.hostConfig(ctx, s.db, hostID)
}

// ConfigChanged delivers host's config as a change would.
func (s *Service) ConfigChanged(ctx context.Context, hostID string) { s.configChanged(ctx, hostID) }

// GetSetting reads a setting.
func (s *Service) GetSetting(ctx context.Context, key string) ([]byte, bool, error) {
	return s.getSetting(ctx, key)
}

// SweepPendingHosts runs one pending-host sweep.
func (s *Service) SweepPendingHosts(ctx context.Context) error { return s.sweepPendingHosts(ctx) }

// ForgetArrival makes the announcer forget that hostID arrived, as a
// restart does.
func (s *Service) ForgetArrival(hostID string) { s.ann.arrived(hostID) }

// SweepJobs runs one job sweep.
func (s *Service) SweepJobs(ctx context.Context) error { return s.sweepJobs(ctx) }

// Requeue gives ids back to the next flush as a failed flush does, with
// what their presence holds now.
func (p *Presence) Requeue(ids ...string) {
	rows := make([]presenceRow, 0, len(ids))
	for _, id := range ids {
		rows = append(rows, presenceRow{id: id, changed: true})
	}
	p.requeue(rows)
}

// Sweep runs one presence sweep.
func (p *Presence) Sweep() { p.sweep() }

// RequireJobKind is the role check for running spec.
func (a Actor) RequireJobKind(spec topics.JobSpec) error { return a.requireJobKind(spec) }

// IngestQueued is how many messages wait in the writer's queue, not yet
// taken into its lanes.
func (s *Service) IngestQueued() int { return len(s.ingestQ) }

// WritesWaiting is how many foreground writes wait for the writer.
func (s *Service) WritesWaiting() int {
	s.db.turns.mu.Lock()
	defer s.db.turns.mu.Unlock()
	return s.db.turns.waiting
}
