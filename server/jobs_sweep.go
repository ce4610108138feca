package server

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// JobOptions tunes the job sweeper. Zero values mean defaults.
type JobOptions struct {
	// SweepEvery is how often queued jobs are checked for expiry (and
	// stale progress and staged snapshot parts dropped). Default 30 s.
	SweepEvery time.Duration
	// ExpiryGrace is how long after its expires_at a job that was never
	// delivered is marked expired: room for the agent's clock and a
	// delivered event still on its way. Default 2 min.
	ExpiryGrace time.Duration
}

func (o JobOptions) withDefaults() JobOptions {
	if o.SweepEvery <= 0 {
		o.SweepEvery = 30 * time.Second
	}
	if o.ExpiryGrace <= 0 {
		o.ExpiryGrace = 2 * time.Minute
	}
	return o
}

// progressKeep is how long progress not refreshed is kept (the agent went
// away mid-job), and how long late progress of an ended job is ignored.
const progressKeep = 10 * time.Minute

// runJobSweeper sweeps every SweepEvery until ctx ends.
func (s *Service) runJobSweeper(ctx context.Context) {
	t := time.NewTicker(s.jobOpts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.sweepJobs(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("jobs: sweep", "err", err)
			}
		}
	}
}

// sweepJobs marks expired the queued jobs whose expires_at (plus the grace)
// has passed. Only jobs never delivered: once the agent has journaled a
// job, the agent decides (it reports expired itself when it got the
// command too late). A job the agent started from a schedule is on the
// agent by definition (it may sit queued here while an event that came
// ahead of an earlier one waits for it): never swept. It also drops stale live progress and the parts of
// snapshot reports that never completed.
func (s *Service) sweepJobs(ctx context.Context) error {
	now := s.now()
	var expired []jobRow
	var repoChanged []string
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &expired, jobSelect+` WHERE j.status = 'queued' AND j.expires_at < ?
			AND j.scheduled_for IS NULL`,
			now.Add(-s.jobOpts.ExpiryGrace)); err != nil {
			return err
		}
		const reason = "It expired before the host came online to run it."
		for i := range expired {
			r := &expired[i]
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, version = version + 1, updated_at = ?,
				finished_at = ?, reason = ? WHERE id = ?`, topics.JobExpired, now, now, reason, r.ID); err != nil {
				return err
			}
			r.Status = string(topics.JobExpired)
			if r.Kind == string(topics.JobInit) {
				changed, err := initEnded(ctx, tx, r.HostID, r.ID, topics.JobExpired, "The init job expired before the host came online.", now, now)
				if err != nil {
					return err
				}
				if changed {
					repoChanged = append(repoChanged, r.HostID)
				}
			}
		}
		return dropStaleReportParts(ctx, tx, now)
	})
	if err != nil {
		return fmt.Errorf("sweep jobs: %w", err)
	}
	for i := range expired {
		r := &expired[i]
		s.log.Info("job expired before delivery", "job", r.ID, "host", r.HostID, "kind", r.Kind)
		s.events.Publish(Event{Kind: EventJobUpdated, HostID: r.HostID, JobID: r.ID, Ended: true})
		s.jobEnded(finishedJob{id: r.ID, uid: r.UID, hostID: r.HostID, hostName: r.HostName, kind: r.Kind, state: topics.JobExpired,
			preview: isPreview(r.Kind, r.Spec)})
	}
	for _, h := range repoChanged {
		s.events.Publish(Event{Kind: EventRepositoryChanged, HostID: h})
	}
	s.progress.prune(now, progressKeep)
	s.redispatchQueued(ctx, now)
	return s.queueDueStats(ctx) // jobs_stats.go
}

// redispatchAfter is how old a job still queued for an online host must be
// before the sweep sends its run command again.
const redispatchAfter = 15 * time.Second

// redispatchQueued sends the run command again of each job still queued
// (never reported delivered) after redispatchAfter whose host is online.
// A new job is sent by the replica whose API made it, if that replica
// knows the host online, and again after every hello; with several
// replicas (docs/replicas.md) a job made on one while the host's hello
// was being handled on another, or on a replica that died between its
// commit and its publish, would otherwise wait for the host's next hello.
// The agent's journal answers a command it has seen (jobs_hello.go).
func (s *Service) redispatchQueued(ctx context.Context, now time.Time) {
	var rows []jobRow
	if err := s.db.SelectContext(ctx, &rows, jobSelect+` WHERE j.status = 'queued' AND j.scheduled_for IS NULL
		AND j.cancel_requested = 0 AND j.created_at < ? AND j.expires_at > ? AND h.online = 1 ORDER BY j.id LIMIT 1000`,
		now.Add(-redispatchAfter), now); err != nil {
		if ctx.Err() == nil {
			s.log.Error("jobs: load queued jobs to send again", "err", err)
		}
		return
	}
	for i := range rows { // online in the store (its presence flush), and here
		r := &rows[i]
		if !s.presence.isOnline(r.HostID) {
			continue
		}
		cmd, err := s.runCommandFor(ctx, r, now)
		if err != nil {
			s.log.Error("jobs: build run command", "job", r.ID, "err", err)
			continue
		}
		s.log.Info("job still queued for an online host: run command sent again", "job", r.ID, "host", r.HostID)
		s.publishCommand(cmd)
	}
}
