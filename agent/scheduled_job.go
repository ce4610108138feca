package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// scheduledRunExpiry is how long after its run was due a scheduled job may
// wait in the queue: past it, it is reported expired instead of running a
// day late behind a long queue (the next slot does the work).
const scheduledRunExpiry = 24 * time.Hour

// scheduledRecord is the journal's detail for a job the agent started by
// itself: the command it would have received from the server, and where it
// came from (on every event of the job, so the server can create it).
// Received commands are journaled as the server's own bytes; the field
// Scheduled tells the two apart.
type scheduledRecord struct {
	Scheduled topics.JobOrigin `json:"scheduled"`
	Command   json.RawMessage  `json:"command"`
}

// decodeJournaledRun reads a journal record's detail: a received command,
// or a scheduled job's record (origin non-nil).
func decodeJournaledRun(detail []byte, host string) (*topics.Command, *topics.JobOrigin, error) {
	var probe struct {
		Scheduled *topics.JobOrigin `json:"scheduled"`
		Command   json.RawMessage   `json:"command"`
	}
	if json.Unmarshal(detail, &probe) == nil && probe.Scheduled != nil {
		var c topics.Command
		if err := topics.DecodeFrom(probe.Command, host, &c); err != nil {
			return nil, nil, fmt.Errorf("scheduled job's command: %w", err)
		}
		if err := probe.Scheduled.Validate(); err != nil {
			return nil, nil, fmt.Errorf("scheduled job's origin: %w", err)
		}
		if c.Action != topics.CmdRun {
			return nil, nil, fmt.Errorf("scheduled job with action %q", clipText(c.Action))
		}
		return &c, probe.Scheduled, nil
	}
	var c topics.Command
	if err := topics.DecodeFrom(detail, host, &c); err != nil {
		return nil, nil, err
	}
	return &c, nil, nil
}

// specsFor is what one run of sch does under cfg: a backup of its source
// group; for a host-wide forget, one forget per source group that has a
// retention policy (on that group's snapshots only); a prune; a check; a
// restore drill. An empty list with a reason when there is nothing to run.
func specsFor(sch *topics.Schedule, cfg *topics.Config) ([]topics.JobSpec, string) {
	switch sch.Kind {
	case topics.JobBackup:
		i := slices.IndexFunc(cfg.SourceGroups, func(g topics.SourceGroup) bool { return g.ID == sch.SourceGroup })
		if i < 0 {
			return nil, fmt.Sprintf("the config has no source group %s", sch.SourceGroup)
		}
		return []topics.JobSpec{groupBackupSpec(&cfg.SourceGroups[i])}, ""
	case topics.JobForget:
		var specs []topics.JobSpec
		for _, g := range cfg.SourceGroups {
			if g.Retention != nil {
				r := *g.Retention
				specs = append(specs, topics.JobSpec{Kind: topics.JobForget, Retention: &r, FilterTags: []string{topics.GroupTag(g.ID)}})
			}
		}
		if len(specs) == 0 {
			return nil, "no source group has a retention policy, so there is nothing to forget"
		}
		return specs, ""
	case topics.JobPrune:
		return []topics.JobSpec{{Kind: topics.JobPrune}}, ""
	case topics.JobCheck:
		return []topics.JobSpec{{Kind: topics.JobCheck, ReadDataSubset: sch.ReadDataSubset}}, ""
	case topics.JobDrill:
		spec := topics.JobSpec{Kind: topics.JobDrill}
		if sch.Drill != nil {
			opts := *sch.Drill
			spec.Drill = &opts
		}
		return []topics.JobSpec{spec}, ""
	}
	return nil, fmt.Sprintf("this agent does not run %q schedules", sch.Kind)
}

// groupBackupSpec is a backup of g: its paths and options, its tags and
// its group tag, and its retention if it forgets after each backup.
func groupBackupSpec(g *topics.SourceGroup) topics.JobSpec {
	tags := slices.Clone(g.Tags)
	if tag := topics.GroupTag(g.ID); !slices.Contains(tags, tag) {
		tags = append(tags, tag)
	}
	spec := topics.JobSpec{Kind: topics.JobBackup, Paths: slices.Clone(g.Paths), Excludes: slices.Clone(g.Excludes),
		ExcludeFiles: slices.Clone(g.ExcludeFiles), ExcludeCaches: g.ExcludeCaches, OneFileSystem: g.OneFileSystem,
		Tags: tags, SourceGroup: g.ID}
	if g.ForgetAfterBackup && g.Retention != nil {
		r := *g.Retention
		spec.ForgetAfter = &r
	}
	return spec
}

// startScheduledRun creates the jobs of one run of sch, for slot, under
// the applied config: each journaled before anything else (like a
// received command, so a restart reports it interrupted or queues it
// again), reported delivered (version 2: the server's queued baseline is
// 1) and queued behind whatever waits, in the one FIFO of this host.
func (a *Agent) startScheduledRun(sch *topics.Schedule, slot time.Time, catchUp bool) {
	cfg := a.desired.current()
	if cfg == nil {
		return
	}
	specs, why := specsFor(sch, cfg)
	if len(specs) == 0 {
		a.log.Info("scheduled run has nothing to do", "schedule", sch.ID, "slot", slot, "reason", why)
		return
	}
	for i := range specs {
		origin := &topics.JobOrigin{Schedule: sch.ID, ScheduledFor: slot.UTC(), CatchUp: catchUp, Spec: specs[i]}
		if err := origin.Validate(); err != nil {
			a.log.Error("scheduled run cannot be made into a job; skipped", "schedule", sch.ID, "err", err)
			continue
		}
		spec := specs[i]
		c := &topics.Command{
			Envelope:      topics.NewEnvelope(topics.TypeCmd, a.cfg.HostID),
			Action:        topics.CmdRun,
			Job:           topics.RandomID(topics.JobIDPrefix),
			Version:       1,
			ExpiresAt:     time.Now().Add(scheduledRunExpiry).UTC(), // the queue's clock, not the scheduler's
			ConfigVersion: cfg.Version,
			Spec:          &spec,
		}
		a.beginScheduledJob(c, origin)
	}
}

func (a *Agent) beginScheduledJob(c *topics.Command, origin *topics.JobOrigin) {
	cmd, err := topics.Encode(c)
	if err == nil {
		var detail []byte
		if detail, err = json.Marshal(scheduledRecord{Scheduled: *origin, Command: cmd}); err == nil {
			_, err = a.journal.Begin(c.Job, detail)
		}
	}
	if err != nil {
		a.log.Error("cannot journal the scheduled job, so it does not run", "schedule", origin.Schedule, "job", c.Job, "err", err)
		return
	}
	j := a.newJob(c, c.Version+1)
	j.origin = origin
	a.log.Info("scheduled job", "schedule", origin.Schedule, "job", c.Job, "kind", c.Spec.Kind, "slot", origin.ScheduledFor, "catch_up", origin.CatchUp)
	if origin.CatchUp {
		j.log.agentf("started by schedule %s to catch up on the run due at %s, missed while the agent was not running", origin.Schedule, origin.ScheduledFor.Format(time.RFC3339))
	} else {
		j.log.agentf("started by schedule %s for the run due at %s", origin.Schedule, origin.ScheduledFor.Format(time.RFC3339))
	}
	if _, err := a.emit(j, topics.JobDelivered, nil); err != nil {
		a.log.Error("cannot store the delivered event", "job", j.id, "err", err)
	}
	a.jobs.enqueue(j)
}
