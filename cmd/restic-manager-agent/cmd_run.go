package main

import (
	"io"
	"log/slog"

	"github.com/restic-manager/restic-manager/agent"
)

// run implements `restic-manager-agent run`: load the config, then run the
// agent until SIGINT/SIGTERM (or the Windows service manager) stops it. A
// job running then is stopped gracefully and reported interrupted.
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
	a, err := agent.New(cfg, logger)
	if err != nil {
		return err
	}
	return agent.RunService(*path, logger, a.Run)
}

// newLogger is the agent's log: slog text, one line per event, on stderr,
// which both a terminal and a service manager's journal capture.
func newLogger(w io.Writer, level string) *slog.Logger {
	lvl, err := agent.ParseLogLevel(level)
	if err != nil {
		lvl = slog.LevelInfo // LoadConfig validated it; keep going regardless
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}
