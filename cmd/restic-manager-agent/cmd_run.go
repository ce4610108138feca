package main

import (
	"errors"
	"io"
	"log/slog"
	"os"

	"github.com/restic-manager/restic-manager/agent"
)

// run implements `restic-manager-agent run`: load the config, then run the
// agent until SIGINT/SIGTERM (or the Windows service manager) stops it. A
// job running then is stopped gracefully and reported interrupted.
//
// After an upgrade (#11) it first checks whether this binary is a new one
// on probation (agent.GuardUpgrade), and when the agent stopped to finish
// an upgrade or a rollback (agent.ErrRestart) it restarts itself.
func (c *cli) run(args []string) error {
	fs := c.flags("run")
	path := fs.String("config", agent.DefaultConfigPath(), "the agent config written by enroll")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		return err
	}
	logger := newLogger(c.stderr, cfg.LogLevel)
	// Before anything can rename it: the path a restart starts again.
	exe, exeErr := agent.Executable()
	guard, err := agent.GuardUpgrade(cfg, logger, 0)
	if errors.Is(err, agent.ErrRestart) {
		return restartAgent(exe, exeErr, os.Args[1:], logger)
	}
	if err != nil {
		return err
	}
	a, err := agent.New(cfg, logger, agent.WithUpgradeGuard(guard))
	if err != nil {
		return err
	}
	err = agent.RunService(*path, logger, a.Run)
	if errors.Is(err, agent.ErrRestart) {
		return restartAgent(exe, exeErr, os.Args[1:], logger)
	}
	return err
}

// restartAgent starts the agent binary again after an upgrade or a rollback
// (see agent.RestartAfterUpgrade); under a service manager the error it
// returns makes the process exit non-zero, so that the manager restarts it.
func restartAgent(exe string, exeErr error, args []string, logger *slog.Logger) error {
	if exeErr != nil {
		return exeErr
	}
	return agent.RestartAfterUpgrade(exe, args, logger)
}

// newLogger is the agent's log: slog text, one line per event, on stderr,
// which both a terminal and a service manager's journal capture. Under the
// Windows service manager, which keeps no stderr, its warnings and errors
// also go to the Event Log (agent.SystemLogHandler).
func newLogger(w io.Writer, level string) *slog.Logger {
	lvl, err := agent.ParseLogLevel(level)
	if err != nil {
		lvl = slog.LevelInfo // LoadConfig validated it; keep going regardless
	}
	return slog.New(agent.SystemLogHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})))
}
