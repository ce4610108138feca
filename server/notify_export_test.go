package server

import "time"

// SetNotifyTimeout lowers the time one notification attempt may take
// (tests of a receiver that never answers).
func (s *Service) SetNotifyTimeout(d time.Duration) { s.notify.timeout.Store(int64(d)) }
