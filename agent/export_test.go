package agent

import (
	"testing"
	"time"
)

// SetAnnounceTimings shortens the announce exchange's timings for one test
// (the answer timeout and the re-announce interval) and restores them when
// it ends. Call it before starting Announce.
func SetAnnounceTimings(tb testing.TB, answerTimeout, reannounce time.Duration) {
	oldAnswer, oldReannounce := announceAnswerTimeout, reannounceInterval
	announceAnswerTimeout, reannounceInterval = answerTimeout, reannounce
	tb.Cleanup(func() { announceAnswerTimeout, reannounceInterval = oldAnswer, oldReannounce })
}

// Options only tests use: production takes these from the config or the
// defaults.

// WithHeartbeatInterval overrides heartbeat_interval without the config's
// lower bound; meant for tests.
func WithHeartbeatInterval(d time.Duration) Option {
	return func(a *Agent) {
		if d > 0 {
			a.heartbeat = d
		}
	}
}

// WithResendAfter sets how long an outbox entry may stay unacknowledged on
// one connection before it is published again (default DefaultResendAfter).
func WithResendAfter(d time.Duration) Option {
	return func(a *Agent) {
		if d > 0 {
			a.resendAfter = d
		}
	}
}

// WithOutboxLimits sets the outbox's segment size and bound on disk (see
// outbox.Options); tests use small ones to fill it.
func WithOutboxLimits(segmentBytes, maxBytes int64) Option {
	return func(a *Agent) { a.outboxOpts.SegmentBytes, a.outboxOpts.MaxBytes = segmentBytes, maxBytes }
}

// WithSchedulerClock makes the scheduler read the time from now instead of
// time.Now; meant for tests (a clock shifted to just before a cron slot
// runs a schedule in seconds; one shifted hours ahead shows a catch-up).
// Timers still run in real time: what the scheduler waits is the
// difference between now() and the slot.
func WithSchedulerClock(now func() time.Time) Option {
	return func(a *Agent) {
		if now != nil {
			a.clock = now
		}
	}
}
