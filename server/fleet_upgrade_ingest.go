package server

import (
	"context"

	"github.com/restic-manager/restic-manager/topics"
)

// upgradeAfterHello settles or resends the host's pending upgrade after a
// hello: the version the agent now reports is the proof of success; an
// upgrade still open is sent again (the agent answers a repeat of one it
// has finished with its recorded report, never by upgrading twice).
func (s *Service) upgradeAfterHello(ctx context.Context, hostID string, m *topics.Hello) {
	u, err := s.HostUpgrade(ctx, hostID)
	if err != nil {
		s.log.Error("upgrade: load after hello", "host", hostID, "err", err)
		return
	}
	if u == nil || u.Terminal() {
		return
	}
	if m.AgentVersion == u.ToVersion {
		s.settleUpgrade(ctx, u, topics.UpgradeDone, "")
		return
	}
	s.publishUpgrade(u)
}

// handleUpgradeReport applies an agent's report to the upgrade it names. A
// report for another (older) upgrade, or one that would move a finished
// upgrade, changes nothing: the agent repeats its last report after every
// hello.
func (s *Service) handleUpgradeReport(ctx context.Context, hostID string, r *topics.UpgradeReport) {
	u, err := s.HostUpgrade(ctx, hostID)
	switch {
	case err != nil:
		s.log.Error("upgrade: load for report", "host", hostID, "err", err)
		return
	case u == nil || u.UpgradeID != r.Upgrade:
		return // an upgrade this server no longer tracks: nothing to do, nothing wrong
	case u.Terminal():
		return
	case r.State == topics.UpgradeDelivered && u.State != topics.UpgradeRequested:
		return
	}
	if r.State == topics.UpgradeFailed || r.State == topics.UpgradeRolledBack {
		s.log.Warn("upgrade: the agent reports a failure", "host", hostID, "upgrade", u.UpgradeID, "state", r.State,
			"from", r.From, "to", r.To, "reason", r.Reason)
	}
	s.settleUpgrade(ctx, u, r.State, r.Reason)
}

// settleUpgrade moves u to state (with reason) unless another request has
// replaced it or it finished meanwhile, and tells the pages.
func (s *Service) settleUpgrade(ctx context.Context, u *AgentUpgrade, state, reason string) {
	res, err := s.db.ExecContext(ctx, `UPDATE agent_upgrades SET state = ?, reason = ?, updated_at = ?
		WHERE host_id = ? AND upgrade_id = ? AND state IN ('requested', 'delivered')`,
		state, clipReason(reason), s.now(), u.HostID, u.UpgradeID)
	if err != nil {
		s.log.Error("upgrade: record state", "host", u.HostID, "upgrade", u.UpgradeID, "state", state, "err", err)
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Info("upgrade", "host", u.HostID, "upgrade", u.UpgradeID, "to", u.ToVersion, "state", state)
		s.events.Publish(Event{Kind: EventHostUpdated, HostID: u.HostID})
	}
}

// clipReason bounds an agent's reason before it is stored and shown.
func clipReason(s string) string {
	if len(s) > 1024 {
		return s[:1024]
	}
	return s
}
