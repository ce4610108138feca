package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/restic-manager/restic-manager/agent"
)

// announce implements `restic-manager-agent announce`: introduce this
// machine to the server without a token, wait until an admin accepts it,
// then run as the agent in this same process (no restart, no second
// command). It ends only when stopped (exit 0 once running as the agent) or
// when the machine is rejected or cannot be announced (exit 1).
func (c *cli) announce(args []string) error {
	fs := c.flags("announce")
	var opts agent.AnnounceOptions
	fs.StringVar(&opts.ServerURL, "server", "", "the server's base URL, e.g. https://backup.example.com")
	fs.StringVar(&opts.CAFingerprint, "ca-fingerprint", "", "pin the server's CA: SHA256:... as printed by the server")
	fs.StringVar(&opts.ConfigPath, "config", agent.DefaultConfigPath(), "where to write the agent config once accepted")
	fs.StringVar(&opts.StateDir, "state-dir", agent.DefaultStateDir(), "where the agent keeps its state and its announce keys")
	fs.StringVar(&opts.ResticBinary, "restic", agent.DefaultResticBinary, "the restic binary (a path, or a name looked up in PATH)")
	fs.BoolVar(&opts.Force, "force", false, "replace an existing config (this host's old identity is lost)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if opts.ServerURL == "" {
		return fmt.Errorf("%w: announce: --server is required: give the server's URL, e.g. https://backup.example.com", errUsage)
	}
	logger := newLogger(c.stderr, agent.DefaultLogLevel)
	opts.Logger = logger
	opts.Banner = c.stdout
	exe, exeErr := agent.Executable()
	err := agent.RunService(opts.ConfigPath, logger, func(ctx context.Context) error {
		cfg, err := agent.Announce(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "accepted as %s; config written to %s. The agent runs now, in this process.\n", cfg.HostID, opts.ConfigPath)
		fmt.Fprintf(c.stdout, "to run it as a service instead: stop this, then restic-manager-agent install --config %s && restic-manager-agent start --config %s\n", opts.ConfigPath, opts.ConfigPath)
		a, err := agent.New(cfg, newLogger(c.stderr, cfg.LogLevel))
		if err != nil {
			return err
		}
		return a.Run(ctx)
	})
	if errors.Is(err, agent.ErrRestart) {
		// Upgraded while running after the announce: what starts now is the plain agent.
		return restartAgent(exe, exeErr, []string{"run", "--config", opts.ConfigPath}, logger)
	}
	return err
}
