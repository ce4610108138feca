package server

// SetMaxOpenChallenges lowers the cap on open announce challenges (10,000)
// so a test can reach it with a few agents. Call it before any hello.
func (s *Service) SetMaxOpenChallenges(n int) { s.ann.maxOpen = n }
