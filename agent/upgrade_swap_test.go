package agent

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/topics"
)

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpgradeSwapKeepsThePreviousAndRestores(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "restic-manager-agent")
	agenttest.WriteExecutable(t, exe, "old binary")
	download := filepath.Join(t.TempDir(), "part")
	agenttest.WriteExecutable(t, download, "new binary")

	staged, err := stageBinary(download, exe)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(staged); err != nil || fi.Mode().Perm()&0o100 == 0 || filepath.Dir(staged) != dir {
		t.Fatalf("staged binary %s: %v, %v; want an executable next to %s", staged, fi, err, exe)
	}
	previous, err := swapBinary(staged, exe)
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, exe); got != "new binary" {
		t.Fatalf("after the swap %s holds %q", exe, got)
	}
	if got := readString(t, previous); got != "old binary" || previous != exe+".previous" {
		t.Fatalf("previous %s holds %q", previous, got)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the staged file is still there: %v", err)
	}

	// A second upgrade replaces the old .previous.
	agenttest.WriteExecutable(t, download, "newer binary")
	if staged, err = stageBinary(download, exe); err != nil {
		t.Fatal(err)
	}
	if _, err := swapBinary(staged, exe); err != nil {
		t.Fatal(err)
	}
	if readString(t, exe) != "newer binary" || readString(t, previous) != "new binary" {
		t.Fatalf("second swap: exe %q, previous %q", readString(t, exe), readString(t, previous))
	}

	if err := restoreBinary(exe, previous); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, exe); got != "new binary" {
		t.Fatalf("after the rollback %s holds %q", exe, got)
	}
	if _, err := os.Stat(previous); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the previous binary was copied, not moved back: %v", err)
	}
	if err := restoreBinary(exe, previous); err == nil {
		t.Fatal("a rollback without a previous binary succeeded")
	}
}

// probationSetup is a state dir with a marker for an upgrade from 1.0.0 to
// this build's Version, the new binary at exe and the old at exe.previous.
func probationSetup(t *testing.T, starts int) (*Config, string) {
	t.Helper()
	state, bin := t.TempDir(), t.TempDir()
	exe := filepath.Join(bin, "restic-manager-agent")
	agenttest.WriteExecutable(t, exe, "new")
	agenttest.WriteExecutable(t, exe+".previous", "old")
	m := &upgradeMarker{Upgrade: topics.NewMessageID(), From: "1.0.0", To: Version, Exe: exe, Previous: exe + ".previous", Starts: starts}
	if err := saveUpgradeMarker(state, m); err != nil {
		t.Fatal(err)
	}
	return &Config{StateDir: state, HostID: topics.RandomID(topics.HostIDPrefix)}, exe
}

func TestUpgradeGuardRollsBackWithoutHello(t *testing.T) {
	cfg, exe := probationSetup(t, 0)
	g, err := GuardUpgrade(cfg, slog.New(slog.DiscardHandler), time.Millisecond)
	if err != nil || g == nil {
		t.Fatalf("GuardUpgrade: %v, %v", g, err)
	}
	select {
	case <-g.RolledBack():
	case <-time.After(10 * time.Second):
		t.Fatal("no rollback after the probation")
	}
	if g.Confirm() {
		t.Fatal("a hello after the rollback confirmed the upgrade")
	}
	if got := readString(t, exe); got != "old" {
		t.Fatalf("after the rollback the binary is %q", got)
	}
	r := loadUpgradeReport(cfg.StateDir, cfg.HostID)
	if r == nil || r.State != topics.UpgradeRolledBack || !strings.Contains(r.Reason, "rolled back to 1.0.0") ||
		!strings.Contains(r.Reason, "did not connect and say hello") {
		t.Fatalf("report %+v", r)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, upgradeMarkerFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the marker outlived the rollback")
	}
}

func TestUpgradeGuardConfirm(t *testing.T) {
	cfg, exe := probationSetup(t, 0)
	g, err := GuardUpgrade(cfg, slog.New(slog.DiscardHandler), time.Hour)
	if err != nil || g == nil {
		t.Fatalf("GuardUpgrade: %v, %v", g, err)
	}
	if !g.Confirm() {
		t.Fatal("Confirm refused")
	}
	if readString(t, exe) != "new" {
		t.Fatal("a confirmed upgrade was rolled back")
	}
	if r := loadUpgradeReport(cfg.StateDir, cfg.HostID); r == nil || r.State != topics.UpgradeDone {
		t.Fatalf("report %+v, want done", r)
	}
	if g, err := GuardUpgrade(cfg, nil, time.Hour); g != nil || err != nil {
		t.Fatalf("a second start after the confirmation is on probation again: %v %v", g, err)
	}
}

func TestUpgradeGuardRollsBackACrashLoop(t *testing.T) {
	cfg, exe := probationSetup(t, maxUpgradeStarts)
	g, err := GuardUpgrade(cfg, slog.New(slog.DiscardHandler), time.Hour)
	if !errors.Is(err, ErrRestart) || g != nil {
		t.Fatalf("GuardUpgrade after %d starts: %v, %v; want ErrRestart", maxUpgradeStarts, g, err)
	}
	if readString(t, exe) != "old" {
		t.Fatal("not rolled back")
	}
	if r := loadUpgradeReport(cfg.StateDir, cfg.HostID); r == nil || r.State != topics.UpgradeRolledBack || !strings.Contains(r.Reason, "started 3 times") {
		t.Fatalf("report %+v", r)
	}
}
