package server

import (
	"context"

	"github.com/restic-manager/restic-manager/topics"
)

// After every hello the server resends what the agent may have missed
// (DESIGN §3): the config when the agent's applied version is older (the
// config seam's syncConfigAfterHello), the run command of every job not yet
// reported past "delivered", and the cancel command of every job whose
// cancel is not yet confirmed. Resends keep their command ids; the agent's
// journal answers duplicates.

// resendWhere selects the jobs a hello may have to hear about again: the
// unfinished ones, and the ones canceled before any delivery (their run
// command may still reach the agent; the cancel must overtake it). The
// jobs_resend index has the same condition.
const resendWhere = `(j.status IN ('queued', 'delivered', 'running')
	OR (j.status = 'canceled' AND j.cancel_requested = 1 AND j.delivered_at IS NULL))`

// afterHello runs after presence has recorded a hello.
func (s *Service) afterHello(ctx context.Context, hostID string, m *topics.Hello) {
	if !s.syncConfigAfterHello(ctx, hostID, m.ConfigVersion) {
		return
	}
	var rows []jobRow
	if err := s.db.SelectContext(ctx, &rows, jobSelect+` WHERE j.host_id = ? AND `+resendWhere+` ORDER BY j.id`, hostID); err != nil {
		s.log.Error("hello: load unfinished jobs", "host", hostID, "err", err)
		return
	}
	now := s.now()
	for i := range rows {
		r := &rows[i]
		switch st := r.state(); {
		case r.CancelRequested:
			if st.Terminal() && !now.Before(r.ExpiresAt) {
				continue // the run command expired too: nothing left to overtake
			}
			s.publishCommand(r.cancelCommand(now))
		case r.ScheduledFor != nil:
			// The agent started it from a schedule: it has no run command.
		case st == topics.JobQueued || st == topics.JobDelivered:
			cmd, err := s.runCommandFor(ctx, r, now)
			if err != nil {
				s.log.Error("hello: build run command", "job", r.ID, "err", err)
				continue
			}
			s.publishCommand(cmd)
		}
	}
}
