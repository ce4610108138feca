package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/restic-manager/restic-manager/topics"
)

// notifyJobState queues the notifications a job's new state causes, inside
// the ingest batch's transaction that stores the state (ingest_jobs.go), so
// a stored failure always has its message and a rolled-back one has none:
//
//   - failed: check.errors for a check job, job.failed for any other;
//   - warning: job.warning;
//   - a backup that succeeded (or ended with a warning) after the host's
//     previous finished backup failed: backup.recovered;
//   - backup.started and backup.succeeded for healthchecks pings.
//
// A dry-run forget (a retention preview) notifies nobody.
func (s *Service) notifyJobState(ctx context.Context, tx *sqlx.Tx, j *ingestJob, state topics.JobState, reason, detail, snapshotID string, at time.Time) error {
	if j.Preview {
		return nil
	}
	p := NotificationPayload{At: at, Host: &NotifyHost{ID: j.HostID, Name: j.HostName},
		Job:  &NotifyJob{ID: j.ID, Kind: j.Kind, Status: string(state), SnapshotID: snapshotID},
		Link: fmt.Sprintf("/jobs/%d", j.ID)}
	if state == topics.JobFailed {
		p.Job.Error = strings.TrimSpace(strings.Join(nonEmpty(reason, detail), ": "))
	}
	backup := j.Kind == string(topics.JobBackup)
	var events []string
	switch state {
	case topics.JobRunning:
		if backup {
			events = append(events, NotifyBackupStarted)
		}
	case topics.JobFailed:
		if j.Kind == string(topics.JobCheck) {
			events = append(events, NotifyCheckErrors)
		} else {
			events = append(events, NotifyJobFailed)
		}
	case topics.JobWarning:
		events = append(events, NotifyJobWarning)
	}
	if backup && (state == topics.JobSucceeded || state == topics.JobWarning) {
		events = append(events, NotifyBackupSucceeded)
		var prev string
		err := tx.GetContext(ctx, &prev, `SELECT status FROM jobs WHERE host_id = ? AND kind = 'backup' AND id <> ?
			AND status IN ('succeeded', 'warning', 'failed') AND finished_at IS NOT NULL
			ORDER BY finished_at DESC, id DESC LIMIT 1`, j.HostID, j.ID)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("notify: previous backup of %s: %w", j.HostID, err)
		}
		if prev == string(topics.JobFailed) {
			events = append(events, NotifyBackupRecovered)
		}
	}
	for _, e := range events {
		p.Event = e
		p.Message = jobMessage(e, j, state, p.Job.Error)
		if _, err := s.enqueueNotification(ctx, tx, p); err != nil {
			return err
		}
	}
	return nil
}

// jobMessage is the one sentence a person reads about a job's event.
func jobMessage(event string, j *ingestJob, state topics.JobState, errText string) string {
	switch event {
	case NotifyBackupRecovered:
		return fmt.Sprintf("%s backs up again: backup job %d %s after a failed one.", j.HostName, j.ID, state)
	case NotifyBackupStarted:
		return fmt.Sprintf("%s started backup job %d.", j.HostName, j.ID)
	}
	m := fmt.Sprintf("%s: %s job %d %s", j.HostName, j.Kind, j.ID, state)
	if errText != "" {
		m += ": " + errText
	}
	return m + "."
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
