package agent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// schedules.json is read back from disk: whatever it holds, decoding
// either fails or gives a state that sync and save accept.
func FuzzDecodeScheduleState(f *testing.F) {
	f.Add([]byte(`{"schedules":{"sch_1":{"cron":"0 * * * *","since":"2026-03-01T00:00:00Z","last_slot":"2026-03-01T04:00:00Z"}}}`))
	f.Add([]byte(`{"schedules":{}}`))
	f.Add([]byte(`{"schedules":{"x":{"cron":"","since":"0001-01-01T00:00:00Z"}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeScheduleState(data)
		if err != nil {
			return
		}
		for id, r := range st.Schedules {
			if !topics.ValidScheduleID(id) || r.Since.IsZero() || r.Cron == "" {
				t.Fatalf("accepted %q: %+v", id, r)
			}
		}
		st.sync([]topics.Schedule{{ID: "sch_1", Kind: topics.JobPrune, Cron: "0 * * * *"}}, time.Unix(1e9, 0))
		if _, err := json.Marshal(st); err != nil {
			t.Fatal(err)
		}
	})
}

// The journal's detail of an unfinished job is read back at start: a
// received command or a scheduled job's record; anything else is refused.
func FuzzDecodeJournaledRun(f *testing.F) {
	c := &topics.Command{Envelope: topics.NewEnvelope(topics.TypeCmd, "h_1"), Action: topics.CmdRun, Job: "j_abc", Version: 1,
		ExpiresAt: time.Unix(2e9, 0), Spec: &topics.JobSpec{Kind: topics.JobPrune}}
	cmd, _ := topics.Encode(c)
	rec, _ := json.Marshal(scheduledRecord{Scheduled: topics.JobOrigin{Schedule: "sch_1", ScheduledFor: time.Unix(1e9, 0), Spec: *c.Spec}, Command: cmd})
	f.Add(cmd)
	f.Add(rec)
	f.Add([]byte(`{"scheduled":{},"command":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, origin, err := decodeJournaledRun(data, "h_1")
		if err != nil {
			return
		}
		if got.Validate() != nil || (origin != nil && (origin.Validate() != nil || got.Action != topics.CmdRun)) {
			t.Fatalf("accepted an invalid record: %+v %+v", got, origin)
		}
	})
}
