// Command brokenagent is a new agent build that never reaches the server,
// for the fleet upgrade end-to-end test (upgrade_e2e_test.go): it answers
// `version` like a real agent (so the upgrade's preflight passes), and its
// `run` does what a real agent does at start about an upgrade in progress
// (agent.GuardUpgrade) but never connects, so its probation runs out and
// the guard rolls back to the previous binary and restarts it.
//
// It lives under testdata so that no build of the project includes it.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/restic-manager/restic-manager/agent"
)

var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("restic-manager-agent", version)
		return
	}
	if len(os.Args) != 4 || os.Args[1] != "run" || os.Args[2] != "--config" {
		fmt.Fprintln(os.Stderr, "brokenagent: usage: run --config FILE")
		os.Exit(2)
	}
	agent.Version = version
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	exe, err := agent.Executable()
	if err != nil {
		log.Error("executable", "err", err)
		os.Exit(1)
	}
	cfg, err := agent.LoadConfig(os.Args[3])
	if err != nil {
		log.Error("config", "err", err)
		os.Exit(1)
	}
	guard, err := agent.GuardUpgrade(cfg, log, 0)
	switch {
	case errors.Is(err, agent.ErrRestart):
	case err != nil || guard == nil:
		log.Error("brokenagent runs only as the new binary of an upgrade", "err", err)
		os.Exit(1)
	default:
		log.Info("brokenagent: not connecting; waiting for the rollback")
		<-guard.RolledBack()
	}
	if err := agent.RestartAfterUpgrade(exe, os.Args[1:], log); err != nil {
		log.Error("restart", "err", err)
		os.Exit(1)
	}
}
