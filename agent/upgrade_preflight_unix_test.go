//go:build !windows

package agent

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// Shell scripts stand in for agent binaries here.
func TestUpgradePreflight(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	agenttest.WriteExecutable(t, good, "#!/bin/sh\necho restic-manager-agent 2.0.0\n")
	if err := preflight(t.Context(), good, "2.0.0"); err != nil {
		t.Fatalf("a binary that says its version: %v", err)
	}
	if err := preflight(t.Context(), good, "3.0.0"); err == nil || !strings.Contains(err.Error(), "not version 3.0.0") {
		t.Fatalf("a binary of another version: %v", err)
	}
	broken := filepath.Join(dir, "broken")
	agenttest.WriteExecutable(t, broken, "#!/bin/sh\nexit 1\n")
	if err := preflight(t.Context(), broken, "2.0.0"); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Fatalf("a binary that exits 1: %v", err)
	}
}
