package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// openService opens the data directory the way serve does, for the admin
// subcommands. SQLite's WAL and busy timeout let them run next to a live
// server. When the server's store is PostgreSQL, the subcommands find it in
// $RM_DB, as serve does without --db (the master key stays in the data
// directory).
func openService(dataDir string, stderr io.Writer) (*server.Service, error) {
	if err := requireData(dataDir); err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return server.Open(dataDir, logger, server.Options{Database: os.Getenv(server.DatabaseEnv)})
}

// requireData refuses a data directory without a restic-manager database (or
// without the master key that goes with it), before anything is created
// there: an admin command never starts a second, empty installation beside
// the server's.
func requireData(dataDir string) error {
	var err error
	if server.StoreDialect(os.Getenv(server.DatabaseEnv)) == server.SQLite {
		err = readable(filepath.Join(dataDir, server.DBFile))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no restic-manager data in %s; pass --data pointing at the server's data directory (serve's --data, ./data by default)", dataDir)
	}
	if err != nil || os.Getenv(server.MasterKeyEnv) != "" {
		return err
	}
	err = readable(filepath.Join(dataDir, "master.key"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s has a database but no master.key; set %s to the server's master key", dataDir, server.MasterKeyEnv)
	}
	return err
}

// readable checks that path can be opened for reading; a missing file (or
// directory on its way) is fs.ErrNotExist.
func readable(path string) error {
	f, err := os.Open(path)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fs.ErrNotExist
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot read %s (permission denied); run this as the user the server runs as", path)
	}
	return fmt.Errorf("cannot open %s: %w", path, err)
}

// refusal turns a domain error into the CLI's one sentence: a refused value
// is a usage error (exit 2), anything else a failure (exit 1); internal
// errors keep their detail, which the admin running the command can act on.
func refusal(err error) error {
	switch server.ErrorCodeOf(err) {
	case server.CodeInvalid:
		return usagef("%s", server.PublicMessage(err))
	case server.CodeInternal:
		return err
	}
	return errors.New(server.PublicMessage(err))
}

// printSecret opens the data directory, runs create (which makes a token or
// password with the CLI's admin actor) and prints its result alone on stdout,
// so scripts can capture it; domain errors become their one-sentence message.
func printSecret(dataDir string, stdout, stderr io.Writer, create func(*server.Service) (string, error)) error {
	svc, err := openService(dataDir, stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	secret, err := create(svc)
	if err != nil {
		return refusal(err)
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns those ("user role NAME --data d ROLE").
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, stdout); err != nil {
			return nil, err
		}
		if args = fs.Args(); len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// parseWithPositional parses flags that may come before or after one
// positional argument ("user add NAME --role x" and "user add --role x NAME").
func parseWithPositional(fs *flag.FlagSet, args []string, stdout io.Writer) (string, error) {
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("%s takes exactly one name (got %d); 'restic-manager %s --help' shows how", fs.Name(), len(pos), fs.Name())
	}
	return pos[0], nil
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := groupHelp(args, userUsage, stdout); err != nil {
		return err
	}
	if len(args) > 0 && args[0] != "add" {
		return cmdUserLifecycle(ctx, args, stdin, stdout, stderr)
	}
	if len(args) == 0 {
		return usageError{userUsage}
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	data := fs.String("data", "data", dataFlagUsage)
	role := fs.String("role", "", "admin, operator or viewer")
	name, err := parseWithPositional(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	r, err := server.ParseRole(*role)
	if err != nil {
		return refusal(err)
	}
	// Before reading the password, so nobody types one for nothing.
	if err := requireData(*data); err != nil {
		return err
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	svc, err := openService(*data, stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.CreateUser(ctx, server.CLIActor(), name, r, password); err != nil {
		return refusal(err)
	}
	fmt.Fprintf(stderr, "Created user %s with role %s.\n", name, r)
	return nil
}

func cmdAPIToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := groupHelp(args, apitokenUsage, stdout); err != nil {
		return err
	}
	if len(args) > 0 && (args[0] == "list" || args[0] == "revoke") {
		return cmdAPITokenLifecycle(ctx, args, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create" {
		return usageError{apitokenUsage}
	}
	fs := flag.NewFlagSet("apitoken create", flag.ContinueOnError)
	data := fs.String("data", "data", dataFlagUsage)
	user := fs.String("user", "", "user the token acts as")
	label := fs.String("label", "", "what the token is for")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("apitoken create takes flags only, not %q; 'restic-manager apitoken create --help' lists them", fs.Arg(0))
	}
	if *user == "" {
		return usagef("--user is required: the token acts as that user, with that user's role")
	}
	return printSecret(*data, stdout, stderr, func(svc *server.Service) (string, error) {
		return svc.CreateAPIToken(ctx, server.CLIActor(), *user, *label)
	})
}

const tokenUsage = "usage: restic-manager token create --host NAME [--ttl 1h]   (prints the enrollment token alone)"

func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := groupHelp(args, tokenUsage, stdout); err != nil {
		return err
	}
	if len(args) == 0 || args[0] != "create" {
		return usageError{tokenUsage}
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	data := fs.String("data", "data", dataFlagUsage)
	host := fs.String("host", "", "name the enrolled host will have")
	ttl := fs.Duration("ttl", time.Hour, "how long the token stays valid, 1m to 168h (7 days)")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("token create takes flags only, not %q; 'restic-manager token create --help' lists them", fs.Arg(0))
	}
	if *host == "" {
		return usagef("--host is required: the name the enrolled machine will have on the dashboard")
	}
	return printSecret(*data, stdout, stderr, func(svc *server.Service) (string, error) {
		tok, _, err := svc.CreateEnrollmentToken(ctx, server.CLIActor(), *host, *ttl)
		return tok, err
	})
}

const monitorUsage = "usage: restic-manager monitor add NAME [--broker mqtt(s)://USER@host:port]   (prints the MQTT password alone)"

func cmdMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := groupHelp(args, monitorUsage, stdout); err != nil {
		return err
	}
	if len(args) == 0 || args[0] != "add" {
		return usageError{monitorUsage}
	}
	fs := flag.NewFlagSet("monitor add", flag.ContinueOnError)
	data := fs.String("data", "data", dataFlagUsage)
	brokerURL := fs.String("broker", "", brokerFlagUsage)
	name, err := parseWithPositional(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	var password string
	err = printSecret(*data, stdout, stderr, func(svc *server.Service) (string, error) {
		if *brokerURL != "" { // #15: an external broker keeps its own accounts
			closeBus, err := provisionOnBroker(ctx, svc, *brokerURL)
			if err != nil {
				return "", err
			}
			defer closeBus()
		}
		password, err = svc.CreateMonitorAccount(ctx, server.CLIActor(), name)
		return password, err
	})
	if err != nil {
		return err
	}
	// The secret goes to stderr only when stdout is a terminal anyway.
	shown := "PASSWORD"
	if isTerminal(stdout) {
		shown = password
	}
	user := server.MonitorUsername(name)
	fmt.Fprintf(stderr, `Created MQTT account %[1]s, with the password printed on stdout; it may read %[2]s only.
The MQTT client ID must be the username too (-i %[1]s), or the broker refuses the connection ("not authorised").
With serve's default addresses (else use your --mqtts address and --public-url), over TLS with the server's CA:
  curl -fsS http://127.0.0.1:8080/ca.pem -o restic-manager-ca.pem
  mosquitto_sub -h 127.0.0.1 -p 8883 --cafile restic-manager-ca.pem -i %[1]s -u %[1]s -P %[3]s -t '%[2]s' -v
`, user, topics.MonitorFilter, shellQuote(shown))
	return nil
}

// dataFlagUsage describes every admin command's --data.
const dataFlagUsage = "the server's data directory (serve's --data)"

// isTerminal reports whether w is a terminal (a person reads it).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
