package agent

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestServiceConfigRunsTheAgentWithAnAbsoluteConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg, err := serviceConfig("agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"run", "--config", filepath.Join(dir, "agent.yaml")}
	if cfg.Name != "restic-manager-agent" || strings.Join(cfg.Arguments, " ") != strings.Join(want, " ") {
		t.Fatalf("service %q runs %q, want %q", cfg.Name, cfg.Arguments, want)
	}
}

func TestControlServiceRefusesBeforeTouchingTheSystem(t *testing.T) {
	if _, err := ControlService("restart", "x.yaml"); err == nil || !strings.Contains(err.Error(), "install, uninstall") {
		t.Fatalf("unknown action: %v", err)
	}
	// install checks the config first, so nothing is installed for a host
	// that was never enrolled.
	_, err := ControlService("install", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "enroll this host first") {
		t.Fatalf("install with a missing config: %v", err)
	}
}
