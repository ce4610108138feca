package topics

import (
	"strings"
	"testing"
	"time"
)

// TestScheduleNext: the next run of several crons in several time zones,
// from a fixed now, including a daylight-saving change.
func TestScheduleNext(t *testing.T) {
	now := time.Date(2026, 3, 28, 22, 30, 0, 0, time.UTC) // Saturday; Europe's clocks go forward on Sunday 29 March
	cases := []struct {
		cron, zone string
		want       string // RFC 3339 in UTC
	}{
		{"0 3 * * *", "", "2026-03-29T03:00:00Z"},
		{"0 3 * * *", "UTC", "2026-03-29T03:00:00Z"},
		{"0 3 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z"},    // 03:00 CEST (UTC+2), the first day of summer time
		{"30 2 * * *", "Europe/Berlin", "2026-03-30T00:30:00Z"},   // 02:30 does not exist on the 29th in Berlin
		{"0 3 * * *", "America/New_York", "2026-03-29T07:00:00Z"}, // EDT, UTC-4
		{"0 9 * * 1", "Asia/Tokyo", "2026-03-30T00:00:00Z"},       // Monday 09:00 JST
		{"@hourly", "", "2026-03-28T23:00:00Z"},
		{"@daily", "Asia/Kolkata", "2026-03-29T18:30:00Z"}, // now is 04:00 IST on the 29th: next midnight is the 30th
		{"*/15 * * * *", "", "2026-03-28T22:45:00Z"},
		{"0 0 1 * *", "Australia/Sydney", "2026-03-31T13:00:00Z"}, // 1 April 00:00 AEDT (UTC+11)
	}
	for _, c := range cases {
		s := Schedule{ID: "sch_1", Kind: JobCheck, Cron: c.cron, TimeZone: c.zone}
		got, err := s.Next(now)
		if err != nil {
			t.Errorf("%s in %q: %v", c.cron, c.zone, err)
			continue
		}
		if got.UTC().Format(time.RFC3339) != c.want {
			t.Errorf("%s in %q: next %s, want %s", c.cron, c.zone, got.UTC().Format(time.RFC3339), c.want)
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	ok := Schedule{ID: "sch_3", Kind: JobBackup, SourceGroup: "sg_1", Cron: "0 3 * * *", TimeZone: "Europe/Berlin", CatchUp: true, JitterSeconds: 600}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Schedule){
		"bad cron":         func(s *Schedule) { s.Cron = "61 * * * *" },
		"six fields":       func(s *Schedule) { s.Cron = "0 0 3 * * *" },
		"tz in expression": func(s *Schedule) { s.Cron = "CRON_TZ=UTC 0 3 * * *" },
		"unknown zone":     func(s *Schedule) { s.TimeZone = "Mars/Olympus" },
		"backup no group":  func(s *Schedule) { s.SourceGroup = "" },
		"prune with group": func(s *Schedule) { s.Kind = JobPrune },
		"restore schedule": func(s *Schedule) { s.Kind = JobRestore },
		"negative jitter":  func(s *Schedule) { s.JitterSeconds = -1 },
		"huge jitter":      func(s *Schedule) { s.JitterSeconds = MaxJitter + 1 },
		"subset on backup": func(s *Schedule) { s.ReadDataSubset = "10%" },
		"bad id":           func(s *Schedule) { s.ID = "7" },
	} {
		s := ok
		mut(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, s)
		} else if strings.Contains(err.Error(), "%!") {
			t.Errorf("%s: badly formatted error %q", name, err)
		}
	}
}
