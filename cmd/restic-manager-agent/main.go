// Command restic-manager-agent runs on every machine restic-manager backs up.
// It only wires flags to package agent, where the logic lives.
//
//	restic-manager-agent enroll --server URL --token T [--ca-fingerprint SHA256:...] --config FILE
//	restic-manager-agent announce --server URL [--ca-fingerprint SHA256:...] --config FILE
//	restic-manager-agent run --config FILE
//	restic-manager-agent install|uninstall|start|stop|status --config FILE
//	restic-manager-agent version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/restic-manager/restic-manager/agent"
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes: 0 ok, 1 the command failed, 2 it was used wrongly.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// errUsage marks errors that are the caller's wording, answered with exit 2.
var errUsage = errors.New("usage")

// cli is the program with its streams, so tests can run it in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	unsetenv       func(string) error
}

func main() {
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, unsetenv: os.Unsetenv}
	os.Exit(c.main(os.Args[1:]))
}

const usage = `restic-manager-agent runs restic backups for a restic-manager server.

Usage:
  restic-manager-agent enroll --server URL --token T [--ca-fingerprint SHA256:...] [--config FILE] [--state-dir DIR] [--restic PATH] [--force]
      Exchange a one-time enrollment token for this host's identity and write the config.
      The token may also come from stdin (--token -) or the RM_ENROLL_TOKEN variable.
  restic-manager-agent run [--config FILE]
      Connect to the server, stay connected and run the restic jobs it sends
      (what the service runs). State (journal, outbox, applied config) lives in state_dir.
  restic-manager-agent install|uninstall|start|stop|status [--config FILE]
      Manage the restic-manager-agent system service.
  restic-manager-agent announce --server URL [--ca-fingerprint SHA256:...] [--config FILE] [--state-dir DIR] [--restic PATH] [--force]
      Enroll without a token: print this machine's fingerprint, wait until an admin
      accepts it in the dashboard, write the config and run the agent (no restart).
  restic-manager-agent version
      Print the agent's version.

FILE defaults to %s.
`

// main runs one command line and returns the exit code.
func (c *cli) main(args []string) int {
	agent.Version = version
	if len(args) == 0 {
		fmt.Fprintf(c.stderr, usage, agent.DefaultConfigPath())
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "enroll":
		err = c.enroll(rest)
	case "run":
		err = c.run(rest)
	case "install", "uninstall", "start", "stop", "status":
		err = c.service(cmd, rest)
	case "announce":
		err = c.announce(rest)
	case "version", "--version", "-version":
		fmt.Fprintln(c.stdout, "restic-manager-agent", version)
	case "help", "--help", "-help", "-h":
		fmt.Fprintf(c.stdout, usage, agent.DefaultConfigPath())
	default:
		err = fmt.Errorf("%w: unknown command %q: run `restic-manager-agent help` for the list", errUsage, cmd)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintln(c.stderr, "restic-manager-agent:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return exitUsage
	default:
		fmt.Fprintln(c.stderr, "restic-manager-agent:", err)
		return exitFail
	}
}

// flags returns a flag set for one subcommand whose parse errors are
// errUsage (the flag package prints its own line for them first).
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage of restic-manager-agent %s:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and refuses stray positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q (flags go before it, values after their flag)", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}
