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
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `restic-manager manages restic backups on a fleet of machines.

Usage:
  restic-manager serve [--data DIR] [--http ADDR] [--https ADDR] [--mqtt ADDR] [--mqtts ADDR]
                       [--public-url URL] [--tls-names NAMES] [--log-level LEVEL] ...
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
  restic-manager monitor add NAME [--broker URL]               (prints the MQTT password alone)
  restic-manager host list [--tag TAG]                         (name, id, state, tags)
  restic-manager host tag HOST [add|remove|set TAG...]         (a host's tags, by name or ID)
  restic-manager broker-cert --names HOST --out DIR            (an external broker's certificate from the server's CA)
  restic-manager version

Each command lists its flags with --help: 'restic-manager serve --help' shows
every listen address, --public-url, --tls-names, --log-level and the limits;
'restic-manager user --help', 'restic-manager token create --help' and so on
show the others. Every command but serve takes --data DIR (the server's data
directory, ./data by default) and works while the server runs.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err and turns it into the exit status: 0 for success and
// for help asked for, 2 for a command line that cannot run as given, 1 for a
// command that ran and failed.
func exitCode(err error, stderr io.Writer) int {
	var u usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u):
		fmt.Fprintln(stderr, "restic-manager:", err)
		return 2
	}
	fmt.Fprintln(stderr, "restic-manager:", err)
	return 1
}

// usageError is a command line that cannot run as given (an unknown command
// or flag, a bad value, a missing argument): exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// run dispatches a command line; tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given; the commands are listed above")
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
	case "host":
		return cmdHost(ctx, rest, stdout, stderr)
	case "broker-cert":
		return cmdBrokerCert(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "restic-manager", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("unknown command %q; 'restic-manager help' lists the commands", cmd)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// groupHelp answers "restic-manager GROUP --help" with the group's usage on
// stdout and flag.ErrHelp (exit 0); nil when args ask for something else.
func groupHelp(args []string, groupUsage string, stdout io.Writer) error {
	if len(args) == 0 || !isHelp(args[0]) {
		return nil
	}
	fmt.Fprintln(stdout, groupUsage)
	fmt.Fprintln(stdout, "\nEach takes --data DIR (the server's data directory, ./data by default); add --help after a command for its flags.")
	return flag.ErrHelp
}

// parseFlags parses args with fs. --help prints the flags on stdout and
// returns flag.ErrHelp; a bad flag or value is one sentence saying what is
// accepted (a usageError), never the whole flag list.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	var bad error
	restore := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			return
		}
		restore[f] = f.Value
		f.Value = checkedValue{f.Value, f, &bad}
	})
	err := fs.Parse(args)
	for f, v := range restore {
		f.Value = v
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "Usage: restic-manager %s [flags]\n\nFlags:\n", fs.Name())
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return flag.ErrHelp
	case bad != nil:
		return bad
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag --" + name
	} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		msg = "--" + name + " needs a value"
	}
	return usagef("%s; 'restic-manager %s --help' lists its flags", msg, fs.Name())
}

// checkedValue turns a flag value's parse error into a sentence saying what
// the flag accepts.
type checkedValue struct {
	flag.Value
	f   *flag.Flag
	bad *error
}

func (v checkedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		want := "another value"
		if g, ok := v.Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case time.Duration:
				want = "a duration such as 90s, 30m or 2h"
			case int, int64, uint, uint64:
				want = "a whole number"
			case float64:
				want = "a number"
			}
		}
		*v.bad = usagef("--%s %q is not valid: want %s — %s", v.f.Name, s, want, v.f.Usage)
		return err
	}
	return nil
}

// programName is how this program was started, for the commands it
// suggests; "restic-manager" when it runs under another name (tests).
func programName() string {
	if p := os.Args[0]; strings.TrimSuffix(filepath.Base(p), ".exe") == "restic-manager" {
		return p
	}
	return "restic-manager"
}
