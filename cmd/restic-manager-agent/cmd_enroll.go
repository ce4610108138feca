package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"github.com/restic-manager/restic-manager/agent"
)

// enroll implements `restic-manager-agent enroll`.
func (c *cli) enroll(args []string) error {
	fs := c.flags("enroll")
	var opts agent.EnrollOptions
	fs.StringVar(&opts.ServerURL, "server", "", "the server's base URL, e.g. https://backup.example.com")
	token := fs.String("token", "", "the one-time enrollment token; - reads it from stdin (default: $"+agent.EnrollTokenEnv+")")
	fs.StringVar(&opts.CAFingerprint, "ca-fingerprint", "", "pin the server's CA: SHA256:... as printed by the server")
	fs.StringVar(&opts.ConfigPath, "config", agent.DefaultConfigPath(), "where to write the agent config")
	fs.StringVar(&opts.StateDir, "state-dir", agent.DefaultStateDir(), "where the agent keeps its state")
	fs.StringVar(&opts.ResticBinary, "restic", agent.DefaultResticBinary, "the restic binary (a path, or a name looked up in PATH)")
	fs.BoolVar(&opts.Force, "force", false, "replace an existing config (this host's old identity is lost)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if opts.Token, err = c.readToken(*token); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts.Logger = slog.New(slog.NewTextHandler(c.stderr, nil))
	res, err := agent.Enroll(ctx, opts)
	if err != nil {
		return err
	}
	name := res.HostName
	if name == "" {
		name = res.Config.HostID
	}
	fmt.Fprintf(c.stdout, "enrolled as %s (%s); config written to %s\n", name, res.Config.HostID, opts.ConfigPath)
	fmt.Fprintf(c.stdout, "next: restic-manager-agent install --config %s && restic-manager-agent start --config %s\n", opts.ConfigPath, opts.ConfigPath)
	return nil
}

// readToken resolves the token from the flag, stdin ("-") or the
// environment. The variable is removed once read so that no child process
// (restic, hooks) inherits it.
func (c *cli) readToken(flagValue string) (string, error) {
	switch flagValue {
	case "-":
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("--token -: no token on stdin (%v): pipe it in, e.g. printf %%s \"$TOKEN\" | restic-manager-agent enroll --token - ...", err)
		}
		return strings.TrimSpace(line), nil
	case "":
		t := strings.TrimSpace(c.getenv(agent.EnrollTokenEnv))
		if t != "" {
			_ = c.unsetenv(agent.EnrollTokenEnv)
		}
		return t, nil
	default:
		return flagValue, nil
	}
}
