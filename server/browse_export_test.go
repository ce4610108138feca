package server

import "time"

// SetQueryReplyGrace shortens how long past a query's timeout AskAgent
// waits for the reply (set before the first query).
func SetQueryReplyGrace(s *Service, d time.Duration) { s.queries.grace = d }
