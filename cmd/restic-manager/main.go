// Command restic-manager is the server: web dashboard, embedded MQTT broker and
// SQLite store in one process (serve), plus subcommands that administer the
// same data directory while the server runs (user, apitoken, token, monitor).
//
// This package is wiring only: flags, subcommands and the Main type that
// connects server, broker and web. Behaviour lives in those packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `restic-manager manages restic backups on a fleet of machines.

Usage:
  restic-manager serve [--data DIR] [--http ADDR] [--https ADDR] [--mqtt ADDR] [--mqtts ADDR]
  restic-manager user add NAME --role admin|operator|viewer   (password from stdin)
  restic-manager user passwd NAME                              (new password from stdin; ends their sessions)
  restic-manager user disable|enable|delete NAME
  restic-manager user role NAME admin|operator|viewer
  restic-manager user totp-reset NAME                          (turns their two-factor sign-in off)
  restic-manager user list                                     (name, role, status, 2FA, created)
  restic-manager apitoken create --user NAME [--label TEXT]    (prints the token alone)
  restic-manager apitoken list                                 (id, label, owner, created, last used)
  restic-manager apitoken revoke ID
  restic-manager token create --host NAME [--ttl 1h]           (prints the enrollment token alone)
  restic-manager monitor add NAME                              (prints the MQTT password alone)
  restic-manager version

Every subcommand takes --data DIR (default ./data) and works while the server runs.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "restic-manager:", err)
		}
		os.Exit(2)
	}
}

// run dispatches a command line; tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "user":
		return cmdUser(ctx, rest, stdin, stdout, stderr)
	case "apitoken":
		return cmdAPIToken(ctx, rest, stdout, stderr)
	case "token":
		return cmdToken(ctx, rest, stdout, stderr)
	case "monitor":
		return cmdMonitor(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "restic-manager", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q; see the usage above", cmd)
}
