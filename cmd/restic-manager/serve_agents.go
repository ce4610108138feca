package main

import (
	"strings"

	"github.com/restic-manager/restic-manager/web"
)

// agentBinaries opens AgentsDir, hashes the agent builds in it once and says
// in the log which platforms machines can install from this server. nil when
// AgentsDir is empty (no binaries served).
func (m *Main) agentBinaries() (*web.AgentBinaries, error) {
	if m.AgentsDir == "" {
		return nil, nil
	}
	bins := web.NewAgentBinaries(m.AgentsDir)
	list, err := bins.List()
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		m.Logger.Warn("no agent binaries to serve: install.sh and install.ps1 cannot install the agent from this server; "+
			"build them with `make agents` or point --agents-dir at them", "agents_dir", m.AgentsDir)
		return bins, nil
	}
	platforms := make([]string, len(list))
	for i, b := range list {
		platforms[i] = b.Platform()
	}
	m.Logger.Info("serving agent binaries", "agents_dir", m.AgentsDir, "version", list[0].Version,
		"platforms", strings.Join(platforms, " "))
	return bins, nil
}
