package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// Jobs the agent starts by itself (#4, DESIGN §3 "Schedules run on the
// agent"). The agent runs a schedule from its last config whether or not
// the server is reachable, under a job id of its own, and every event of
// such a job carries its Origin (schedule, cron slot, spec). The server has
// no row for it, so the writer makes one from the first event it stores:
//
//   - An event for an unknown job with a valid Origin creates the job —
//     version 1, queued, as if the server had queued it — inside the
//     batch's transaction, and then applies by the ordinary rules. The row
//     is found by its wire id afterwards, so a resent or duplicated event
//     never makes a second one, and one that fails to store rolls back with
//     its savepoint: exactly once.
//   - The schedule must be this host's. One that no longer exists (deleted
//     since the agent ran it; ids are never reused) still gets its job,
//     without a schedule. Another host's schedule is refused for good.
//   - Only the kinds a schedule runs (backup, forget, prune, check).
//   - created_by "schedule", scheduled_for the slot, expires_at the slot +
//     DefaultJobExpiry, source_group_id from the spec's group when it is
//     this host's. scheduled_for marks the job as the agent's: the sweeper
//     never expires it and hellos send no run command for it.
//
// A log batch can overtake the first event (they are separate outbox
// entries). A batch for an unknown job is therefore deferred — not acked,
// counted in IngestStats.Deferred — and the agent resends it (within about
// a minute) after the event made the job. A batch whose job stays unknown
// for UnknownLogPatience is refused (acked) at last: it belongs to no job
// this server will ever have. Snapshot reports name no job the server
// needs, so they are never held back.

// CreatedBySchedule is Job.CreatedBy of a job the agent started from a
// schedule.
const CreatedBySchedule = "schedule"

// UnknownLogPatience is how long log batches of a job the server does not
// know are deferred before they are refused.
const UnknownLogPatience = time.Hour

// maxUnknownLogJobs bounds the jobs whose deferred logs are timed.
const maxUnknownLogJobs = 10000

// unknownLogJobs remembers when a log batch for an unknown job was first
// deferred, by wire id.
type unknownLogJobs struct {
	mu    sync.Mutex
	first map[string]time.Time
}

// wait reports whether a batch of uid's log should still wait for its job
// at now (else it is refused).
func (u *unknownLogJobs) wait(uid string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.first == nil {
		u.first = make(map[string]time.Time)
	}
	first, ok := u.first[uid]
	if !ok {
		if len(u.first) >= maxUnknownLogJobs {
			for id, t := range u.first {
				if now.Sub(t) >= UnknownLogPatience {
					delete(u.first, id)
				}
			}
		}
		if len(u.first) < maxUnknownLogJobs {
			u.first[uid] = now
		}
		return true // untimed when full: waiting is the side that loses nothing
	}
	if now.Sub(first) < UnknownLogPatience {
		return true
	}
	delete(u.first, uid)
	return false
}

// known drops uid: its job exists now.
func (u *unknownLogJobs) known(uid string) {
	u.mu.Lock()
	delete(u.first, uid)
	u.mu.Unlock()
}

// scheduleKinds are the kinds a schedule runs.
var scheduleKinds = []topics.JobKind{topics.JobBackup, topics.JobForget, topics.JobPrune, topics.JobCheck, topics.JobDrill}

// jobFromOrigin creates the job of an event whose job is unknown from the
// event's Origin, then loads it like any other.
func (w *batchWriter) jobFromOrigin(ctx context.Context, host string, m *topics.JobEvent) (*ingestJob, string, error) {
	o := m.Origin
	if !slices.Contains(scheduleKinds, o.Spec.Kind) {
		return nil, "origin of a kind no schedule runs", nil
	}
	var scheduleID *int64
	id := parseScheduleKey(o.Schedule)
	var owner string
	err := w.tx.GetContext(ctx, &owner, `SELECT host_id FROM schedules WHERE id = ?`, id)
	switch {
	case isNoRows(err): // deleted since: the run is kept, without its schedule
	case err != nil:
		return nil, "", fmt.Errorf("load schedule %s: %w", o.Schedule, err)
	case owner != host:
		return nil, "another host's schedule", nil
	default:
		scheduleID = &id
	}
	var groupID *int64
	if gid, err := strconv.ParseInt(strings.TrimPrefix(o.Spec.SourceGroup, "sg_"), 10, 64); err == nil {
		var n int
		if err := w.tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM source_groups WHERE id = ? AND host_id = ?`, gid, host); err != nil {
			return nil, "", fmt.Errorf("load source group %s: %w", o.Spec.SourceGroup, err)
		}
		if n > 0 {
			groupID = &gid
		}
	}
	slot := o.ScheduledFor.UTC()
	created := slot // when the run came to be on the agent, not when we heard of it
	if created.After(w.now) {
		created = w.now
	}
	if _, err := storeJob(ctx, w.tx, newJob{uid: m.Job, hostID: host, spec: o.Spec, createdBy: CreatedBySchedule,
		createdAt: created, expiresAt: slot.Add(DefaultJobExpiry), sourceGroupID: groupID,
		scheduleID: scheduleID, scheduledFor: &slot}); err != nil {
		return nil, "", err
	}
	w.s.unknownLogs.known(m.Job)
	w.s.log.Info("scheduled job reported by the agent", "host", host, "job", m.Job, "schedule", o.Schedule,
		"kind", o.Spec.Kind, "scheduled_for", slot)
	return w.job(ctx, host, m.Job)
}
