package server

// LeaderLockKey is the leader lease's advisory lock (core_cluster.go), for
// the tests that cut its connection.
const LeaderLockKey = leaderLockKey

// Bridged reports whether the event bridge's listener is connected.
func (s *Service) Bridged() bool { return s.cluster.bridged.Load() }

// LeaderTerms is how many times this replica took the leader lease.
func (s *Service) LeaderTerms() int64 { return s.cluster.terms.Load() }
