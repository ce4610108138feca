package agent

import (
	"time"

	"github.com/robfig/cron/v3"
)

// catchUpWindows are the spans latestSlot searches back from now, shortest
// first: a minutely cron is found in the first, a yearly one in the last,
// and no search walks more than a window's worth of slots.
var catchUpWindows = []time.Duration{time.Hour, 24 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour,
	367 * 24 * time.Hour, 5 * 367 * 24 * time.Hour}

// latestSlot is the latest slot of c in (after, now], or zero if there is
// none: the one run a catch-up makes for however many slots were missed.
func latestSlot(c cron.Schedule, after, now time.Time) time.Time {
	if !after.Before(now) {
		return time.Time{}
	}
	for _, w := range catchUpWindows {
		start := now.Add(-w)
		whole := !start.After(after)
		if whole {
			start = after
		}
		var latest time.Time
		for t := start; ; {
			n := c.Next(t)
			if n.IsZero() || n.After(now) {
				break
			}
			latest, t = n, n
		}
		if !latest.IsZero() || whole {
			return latest
		}
	}
	return time.Time{}
}

// nextSlot is the first slot of c after both the last slot run and now:
// never the same slot twice, even if the clock went back.
func nextSlot(c cron.Schedule, last, now time.Time) time.Time {
	if last.After(now) {
		return c.Next(last)
	}
	return c.Next(now)
}
