package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// openService opens the data directory the way serve does, for the admin
// subcommands. SQLite's WAL and busy timeout let them run next to a live server.
func openService(dataDir string, stderr io.Writer) (*server.Service, error) {
	db, err := server.OpenDB(filepath.Join(dataDir, "restic-manager.db"))
	if err != nil {
		return nil, err
	}
	box, err := server.LoadOrCreateMasterKey(dataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return server.NewService(db, box, logger, server.Options{}), nil
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
		return errors.New(server.PublicMessage(err))
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

// parseWithPositional parses flags that may come before or after one
// positional argument ("user add NAME --role x" and "user add --role x NAME").
func parseWithPositional(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("%s takes exactly one name", fs.Name())
	}
	return pos[0], nil
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] != "add" {
		return cmdUserLifecycle(ctx, args, stdin, stdout, stderr)
	}
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "data", "data directory")
	role := fs.String("role", "", "admin, operator or viewer")
	name, err := parseWithPositional(fs, args[1:])
	if err != nil {
		return err
	}
	r, err := server.ParseRole(*role)
	if err != nil {
		return errors.New(server.PublicMessage(err))
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
		return errors.New(server.PublicMessage(err))
	}
	fmt.Fprintf(stderr, "Created user %s with role %s.\n", name, r)
	return nil
}

func cmdAPIToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "list" || args[0] == "revoke") {
		return cmdAPITokenLifecycle(ctx, args, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create" {
		return errors.New(apitokenUsage)
	}
	fs := flag.NewFlagSet("apitoken create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "data", "data directory")
	user := fs.String("user", "", "user the token acts as")
	label := fs.String("label", "", "what the token is for")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required: the token acts as that user, with that user's role")
	}
	return printSecret(*data, stdout, stderr, func(svc *server.Service) (string, error) {
		return svc.CreateAPIToken(ctx, server.CLIActor(), *user, *label)
	})
}

func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: restic-manager token create --host NAME [--ttl 1h]")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "data", "data directory")
	host := fs.String("host", "", "name the enrolled host will have")
	ttl := fs.Duration("ttl", time.Hour, "how long the token stays valid")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return printSecret(*data, stdout, stderr, func(svc *server.Service) (string, error) {
		tok, _, err := svc.CreateEnrollmentToken(ctx, server.CLIActor(), *host, *ttl)
		return tok, err
	})
}

func cmdMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: restic-manager monitor add NAME")
	}
	fs := flag.NewFlagSet("monitor add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "data", "data directory")
	name, err := parseWithPositional(fs, args[1:])
	if err != nil {
		return err
	}
	err = printSecret(*data, stdout, stderr, func(svc *server.Service) (string, error) {
		return svc.CreateMonitorAccount(ctx, server.CLIActor(), name)
	})
	if err == nil {
		fmt.Fprintf(stderr, "MQTT username: %s (read-only access to rm/v1/monitor/#)\n", server.MonitorUsername(name))
	}
	return err
}
