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
