package server

import (
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// BenchmarkExpectedInterval: the cost of computing one schedule set's
// expected interval (hostInterval caches it per set and UTC day; a cached
// read costs one Next per schedule). Every-minute-in-business-hours is
// the worst case the slot bound (intervalMaxSlots) is for.
func BenchmarkExpectedInterval(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		scheds []topics.Schedule
	}{
		{"daily", []topics.Schedule{{Cron: "0 3 * * *"}}},
		{"hourly", []topics.Schedule{{Cron: "@hourly"}}},
		{"weekdays+weekends-berlin", []topics.Schedule{{Cron: "0 3 * * 1-5", TimeZone: "Europe/Berlin"}, {Cron: "0 12 * * 0,6", TimeZone: "Europe/Berlin"}}},
		{"every-minute-9-to-5", []topics.Schedule{{Cron: "* 9-17 * * 1-5"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var si scheduleInterval
			for b.Loop() {
				si = expectedInterval(c.scheds, now)
			}
			b.ReportMetric(si.Interval.Hours(), "interval-h")
		})
	}
	b.Run("cached-every-minute-9-to-5", func(b *testing.B) {
		scheds := []topics.Schedule{{Cron: "* 9-17 * * 1-5"}}
		hostInterval(scheds, now)
		for b.Loop() {
			hostInterval(scheds, now)
		}
	})
}
