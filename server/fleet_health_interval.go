package server

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// The expected backup interval of a host (#13): the longest gap between
// consecutive slots of its unpaused backup schedules, all schedules taken
// together, over the next intervalWindow of slots from now. Weekdays-only
// at 03:00 is 72 h (Friday to Monday), hourly is 1 h, weekly is 7 days.

const (
	// intervalWindow is how far ahead the slots are read; the first slot
	// past it is read too, so a gap that straddles its end still counts
	// and a monthly schedule still yields a gap.
	intervalWindow = 14 * 24 * time.Hour
	// intervalMaxSlots bounds the work for a schedule that fires every
	// minute: 10 000 slots are a week of business-hours minutes.
	intervalMaxSlots = 10000
	// intervalHorizon: slots further ahead than this are not looked for
	// (a schedule that fires once a year still has a gap).
	intervalHorizon = 2 * 366 * 24 * time.Hour
	// minOverdueGrace is the least grace added to an expected interval.
	minOverdueGrace = 2 * time.Hour
)

// scheduleInterval is what the host's backup schedules say about it.
type scheduleInterval struct {
	Interval time.Duration // 0: no schedule that fires
	Next     *time.Time    // the earliest next slot
	Jitter   time.Duration // the largest jitter of the schedules
}

// grace is how much later than the interval a success may be before the
// host is overdue: a quarter of the interval (a long backup on a weekly
// schedule finishes hours after its slot), at least minOverdueGrace, plus
// the schedules' jitter.
func (si scheduleInterval) grace() time.Duration {
	return max(minOverdueGrace, si.Interval/4) + si.Jitter
}

// intervalKey names a set of schedules for the per-evaluation cache:
// hosts share few distinct sets.
func intervalKey(scheds []topics.Schedule) string {
	parts := make([]string, 0, len(scheds))
	for _, sc := range scheds {
		parts = append(parts, sc.Cron+"\x00"+sc.TimeZone+"\x00"+strconv.Itoa(sc.JitterSeconds))
	}
	slices.Sort(parts)
	return strings.Join(parts, "\x01")
}

// expectedInterval computes the interval of the unpaused backup schedules
// in scheds (the caller leaves out paused ones and other kinds) from now.
// A schedule that cannot be parsed or never fires adds nothing.
func expectedInterval(scheds []topics.Schedule, now time.Time) scheduleInterval {
	var out scheduleInterval
	var slots []time.Time
	horizon := now.Add(intervalHorizon) // the end of the range every schedule covers
	for _, sc := range scheds {
		cs, err := sc.Parse()
		if err != nil {
			continue
		}
		out.Jitter = max(out.Jitter, time.Duration(sc.JitterSeconds)*time.Second)
		var own []time.Time
		for t := cs.Next(now); !t.IsZero() && t.Before(now.Add(intervalHorizon)); t = cs.Next(t) {
			own = append(own, t)
			if len(own) >= intervalMaxSlots || (len(own) >= 2 && t.After(now.Add(intervalWindow))) {
				break
			}
		}
		if len(own) == 0 {
			continue
		}
		if out.Next == nil || own[0].Before(*out.Next) {
			first := own[0]
			out.Next = &first
		}
		if len(own) >= 2 && own[len(own)-1].Before(horizon) {
			horizon = own[len(own)-1]
		}
		slots = append(slots, own...)
	}
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(slots) && !slots[i].After(horizon); i++ {
		out.Interval = max(out.Interval, slots[i].Sub(slots[i-1]))
	}
	return out
}

// intervalCache keeps the interval of each schedule set for the UTC day it
// was computed from: reading the slots costs milliseconds for an hourly
// schedule and tens of them for one that fires every minute, and every
// host list (pages, the event hub, the health check) needs it.
var intervalCache struct {
	sync.Mutex
	byKey map[string]scheduleInterval // key: intervalKey + the day
}

// hostInterval is expectedInterval with its interval read from the start
// of now's UTC day (so it is the same all day, and cached) and its next
// slot from now.
func hostInterval(scheds []topics.Schedule, now time.Time) scheduleInterval {
	if len(scheds) == 0 {
		return scheduleInterval{}
	}
	day := now.UTC().Truncate(24 * time.Hour)
	key := intervalKey(scheds) + "@" + day.Format(time.DateOnly)
	intervalCache.Lock()
	si, ok := intervalCache.byKey[key]
	intervalCache.Unlock()
	if !ok {
		si = expectedInterval(scheds, day)
		intervalCache.Lock()
		if intervalCache.byKey == nil || len(intervalCache.byKey) >= 1000 {
			intervalCache.byKey = make(map[string]scheduleInterval)
		}
		intervalCache.byKey[key] = si
		intervalCache.Unlock()
	}
	si.Next = nil
	for _, sc := range scheds {
		if t, err := sc.Next(now); err == nil && !t.IsZero() && (si.Next == nil || t.Before(*si.Next)) {
			si.Next = &t
		}
	}
	return si
}
