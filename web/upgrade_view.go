package web

import (
	"context"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// agentStatus is a host's agent against the build this server serves for
// its platform (#11), and its latest upgrade.
type agentStatus struct {
	// Served is the version served for the host's platform ("" none).
	Served   string
	Outdated bool
	Upgrade  *server.AgentUpgrade
}

// UpgradeOpen reports an upgrade asked for and not finished.
func (s agentStatus) UpgradeOpen() bool { return s.Upgrade != nil && !s.Upgrade.Terminal() }

// UpgradeFailed reports an upgrade that failed or was rolled back.
func (s agentStatus) UpgradeFailed() bool {
	return s.Upgrade != nil && (s.Upgrade.State == topics.UpgradeFailed || s.Upgrade.State == topics.UpgradeRolledBack)
}

// upgradeTargets is the agent build served per platform, read once for the
// caller (the directory is hashed once per file version, see AgentBinaries).
func (h *handler) upgradeTargets() (server.UpgradeTargets, error) {
	if h.cfg.AgentBinaries == nil {
		return func(string, string) (server.UpgradeTarget, bool) { return server.UpgradeTarget{}, false }, nil
	}
	list, err := h.cfg.AgentBinaries.List()
	if err != nil {
		return nil, err
	}
	byPlatform := make(map[string]server.UpgradeTarget, len(list))
	for _, b := range list {
		byPlatform[b.Platform()] = server.UpgradeTarget{Version: b.Version, SHA256: b.SHA256, Size: b.Size}
	}
	return func(goos, goarch string) (server.UpgradeTarget, bool) {
		t, ok := byPlatform[goos+"/"+goarch]
		return t, ok
	}, nil
}

// withAgentStatus fills each view's agent status. A failure to read the
// binaries or the upgrades leaves the status empty and is logged: the
// fleet shows without it rather than not at all.
func (h *handler) withAgentStatus(ctx context.Context, views []hostView) []hostView {
	targets, err := h.upgradeTargets()
	if err != nil {
		h.log.Error("agent binaries", "err", err)
		return views
	}
	upgrades, err := h.svc.HostUpgrades(ctx)
	if err != nil {
		h.log.Error("agent upgrades", "err", err)
		return views
	}
	for i := range views {
		v := &views[i]
		if t, ok := targets(v.OS, v.Arch); ok {
			v.Agent.Served = t.Version
		}
		v.Agent.Outdated = server.Outdated(&v.Host, targets)
		v.Agent.Upgrade = upgrades[v.ID]
	}
	return views
}

// upgradePanel is the dashboard's "Agent upgrades" card (admins only): the
// hosts whose agent is outdated or whose upgrade is open or failed.
type upgradePanel struct {
	CSRF     string
	Hosts    []hostView
	Outdated int
}

func newUpgradePanel(views []hostView, csrf string) upgradePanel {
	p := upgradePanel{CSRF: csrf}
	for _, v := range views {
		if v.Agent.Outdated {
			p.Outdated++
		}
		if v.Agent.Outdated || v.Agent.UpgradeOpen() || v.Agent.UpgradeFailed() {
			p.Hosts = append(p.Hosts, v)
		}
	}
	return p
}
