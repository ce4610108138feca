package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// scheduleFile is where the scheduler keeps, per schedule, the last slot
// it ran and since when it has known the schedule (in state_dir).
const scheduleFile = "schedules.json"

// maxScheduleStateSize bounds the file we read back: a record is well
// under 1 KiB and a config holds at most topics.MaxSchedules.
const maxScheduleStateSize = 1 << 20

// scheduleRecord is what the agent remembers about one schedule across
// restarts, for catch-up (DESIGN §3: a run missed while the machine was
// off runs once at the next start).
type scheduleRecord struct {
	// Cron and TimeZone are the schedule's as last applied: a change
	// starts the schedule afresh (Since), so a slot of the old cron never
	// counts as missed.
	Cron     string `json:"cron"`
	TimeZone string `json:"time_zone,omitempty"`
	Paused   bool   `json:"paused,omitempty"`
	// Since is when this agent started running the schedule in this form
	// (first seen, cron changed, or resumed): slots before it are not
	// missed runs, so a brand-new or resumed schedule does not catch up.
	Since time.Time `json:"since"`
	// LastSlot is the cron slot of the last run the agent started (or
	// skipped as expired); zero if none.
	LastSlot time.Time `json:"last_slot,omitzero"`
}

// scheduleState is the content of schedules.json: a record per schedule
// of the applied config.
type scheduleState struct {
	Schedules map[string]scheduleRecord `json:"schedules"`
}

// decodeScheduleState reads schedules.json. It refuses what the agent
// did not write: unknown schedule ids, oversized fields, missing times.
func decodeScheduleState(data []byte) (scheduleState, error) {
	if len(data) > maxScheduleStateSize {
		return scheduleState{}, fmt.Errorf("schedule state of %d bytes; at most %d", len(data), maxScheduleStateSize)
	}
	var st scheduleState
	if err := json.Unmarshal(data, &st); err != nil {
		return scheduleState{}, fmt.Errorf("schedule state: %w", err)
	}
	if st.Schedules == nil {
		return scheduleState{}, errors.New("schedule state without schedules")
	}
	if len(st.Schedules) > topics.MaxSchedules {
		return scheduleState{}, fmt.Errorf("schedule state with %d schedules; at most %d", len(st.Schedules), topics.MaxSchedules)
	}
	for id, r := range st.Schedules {
		switch {
		case !topics.ValidScheduleID(id):
			return scheduleState{}, fmt.Errorf("schedule state: invalid schedule id %q", clipText(id))
		case r.Cron == "" || len(r.Cron) > 200 || len(r.TimeZone) > 200:
			return scheduleState{}, fmt.Errorf("schedule state: schedule %s has no cron or an oversized one", id)
		case r.Since.IsZero():
			return scheduleState{}, fmt.Errorf("schedule state: schedule %s without since", id)
		}
	}
	return st, nil
}

// loadScheduleState reads path. A missing file is an empty state; a
// damaged one is logged and replaced by an empty state: every schedule
// then counts as new, so nothing runs twice and only a catch-up can be
// lost.
func loadScheduleState(path string, log *slog.Logger) scheduleState {
	empty := scheduleState{Schedules: map[string]scheduleRecord{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return empty
	case err != nil:
		log.Warn("cannot read the schedule state; schedules start afresh (no catch-up of runs missed before now)", "path", path, "err", err)
		return empty
	}
	st, err := decodeScheduleState(data)
	if err != nil {
		log.Warn("the schedule state is damaged; schedules start afresh (no catch-up of runs missed before now)", "path", path, "err", clipText(err.Error()))
		return empty
	}
	return st
}

// save writes the state to path atomically and durably.
func (st scheduleState) save(path string) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("store the schedule state: %w: check that state_dir is writable", err)
	}
	return nil
}

// sync makes the state match the applied schedules at now: a schedule
// seen for the first time, with a changed cron or time zone, or resumed
// after a pause starts afresh (Since = now); records of schedules the
// config no longer has are dropped. It reports whether anything changed.
func (st *scheduleState) sync(schedules []topics.Schedule, now time.Time) bool {
	changed := false
	keep := map[string]bool{}
	for _, sch := range schedules {
		keep[sch.ID] = true
		r, ok := st.Schedules[sch.ID]
		switch {
		case !ok || r.Cron != sch.Cron || r.TimeZone != sch.TimeZone:
			r = scheduleRecord{Cron: sch.Cron, TimeZone: sch.TimeZone, Since: now}
		case r.Paused && !sch.Paused:
			r.Since = now
		case r.Paused == sch.Paused:
			continue
		}
		r.Paused = sch.Paused
		st.Schedules[sch.ID] = r
		changed = true
	}
	for id := range st.Schedules {
		if !keep[id] {
			delete(st.Schedules, id)
			changed = true
		}
	}
	return changed
}
