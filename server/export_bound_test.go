package server

// SetDecodeBound sets how many large agent messages s decodes at once
// (ingest_bound.go); call it before any is decoded.
func SetDecodeBound(s *Service, n int) {
	s.decodes.size = n
	s.decodes.init()
}

// DecodeBoundPeak is the most decodes that held a slot at once, and the
// decodes holding one now.
func DecodeBoundPeak(s *Service) (peak, busy int64) {
	return s.decodes.peak.Load(), s.decodes.busy.Load()
}

// TakeDecodeSlot takes a decode slot as a large message would;
// LeaveDecodeSlot gives one back.
func TakeDecodeSlot(s *Service) bool { return s.decodes.enter(boundedDecodeBytes) }

// LeaveDecodeSlot gives back a slot TakeDecodeSlot took.
func LeaveDecodeSlot(s *Service) { s.decodes.leave() }
