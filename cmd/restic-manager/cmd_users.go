package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

const userUsage = `usage: restic-manager user add NAME --role admin|operator|viewer   (password on stdin)
       restic-manager user passwd NAME                             (new password on stdin)
       restic-manager user disable|enable|delete NAME
       restic-manager user role NAME admin|operator|viewer
       restic-manager user totp-reset NAME
       restic-manager user list`

const apitokenUsage = `usage: restic-manager apitoken create --user NAME [--label TEXT]
       restic-manager apitoken list
       restic-manager apitoken revoke ID`

// readPassword reads one line from stdin: the password, without its line end.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// userCommand is a parsed "user VERB NAME [ARG]" line.
type userCommand struct {
	verb, name, arg string
	data            string
}

func parseUserCommand(args []string, stdout io.Writer) (userCommand, error) {
	verb := args[0]
	want := map[string]int{"passwd": 1, "disable": 1, "enable": 1, "delete": 1, "totp-reset": 1, "role": 2, "list": 0}
	n, ok := want[verb]
	if !ok {
		return userCommand{}, usagef("unknown user command %q; 'restic-manager user --help' lists them", verb)
	}
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	data := fs.String("data", "data", dataFlagUsage)
	pos, err := parseArgs(fs, args[1:], stdout)
	if err != nil {
		return userCommand{}, err
	}
	if len(pos) != n {
		return userCommand{}, usagef("user %s takes %d argument(s), not %d; 'restic-manager user --help' shows them", verb, n, len(pos))
	}
	c := userCommand{verb: verb, data: *data}
	if n > 0 {
		c.name = pos[0]
	}
	if n > 1 {
		c.arg = pos[1]
	}
	return c, nil
}

// cmdUserLifecycle runs the user subcommands other than add. They act as
// the CLI's admin actor, are audited like any change, and take effect on a
// running server at once: each request there re-reads its session and user.
func cmdUserLifecycle(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := parseUserCommand(args, stdout)
	if err != nil {
		return err
	}
	var password string
	if c.verb == "passwd" {
		if err := requireData(c.data); err != nil {
			return err
		}
		// Read before opening the store, so a slow typist holds no lock.
		if password, err = readPassword(stdin); err != nil {
			return err
		}
	}
	svc, err := openService(c.data, stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	if c.verb == "list" {
		return listUsers(ctx, svc, stdout)
	}
	acc, err := svc.AccountByName(ctx, c.name)
	if err != nil {
		return refusal(err)
	}
	a := server.CLIActor()
	var done string
	switch c.verb {
	case "passwd":
		_, err = svc.ResetPassword(ctx, a, acc.ID, password)
		done = "Set a new password for %s; their sessions have ended."
	case "disable":
		_, err = svc.DisableUser(ctx, a, acc.ID)
		done = "Disabled %s; their sessions have ended and their API tokens stopped working."
	case "enable":
		_, err = svc.EnableUser(ctx, a, acc.ID)
		done = "Enabled %s."
	case "delete":
		_, err = svc.DeleteUser(ctx, a, acc.ID)
		done = "Deleted %s with their sessions and API tokens; the audit log keeps their history."
	case "totp-reset":
		_, err = svc.ResetTOTP(ctx, a, acc.ID)
		done = "Turned two-factor sign-in off for %s; they can set it up again on their Account page."
	case "role":
		var r server.Role
		if r, err = server.ParseRole(c.arg); err == nil {
			_, err = svc.SetUserRole(ctx, a, acc.ID, r)
			done = "%s is now " + string(r) + "."
		}
	}
	if err != nil {
		return refusal(err)
	}
	fmt.Fprintf(stderr, done+"\n", acc.Name)
	return nil
}

// listUsers prints one user a line: name, role, status, two-factor, created.
func listUsers(ctx context.Context, svc *server.Service, stdout io.Writer) error {
	users, err := svc.ListAccounts(ctx)
	if err != nil {
		return refusal(err)
	}
	for _, u := range users {
		status, tfa := "enabled", "-"
		if u.Disabled {
			status = "disabled"
		}
		if u.TOTP {
			tfa = "totp"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, status, tfa, u.CreatedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// cmdAPITokenLifecycle runs "apitoken list" and "apitoken revoke ID".
func cmdAPITokenLifecycle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apitoken "+args[0], flag.ContinueOnError)
	data := fs.String("data", "data", dataFlagUsage)
	var id int64
	if args[0] == "revoke" {
		arg, err := parseWithPositional(fs, args[1:], stdout)
		if err != nil {
			return err
		}
		if id, err = strconv.ParseInt(strings.TrimPrefix(arg, "#"), 10, 64); err != nil || id < 1 {
			return usagef("%q is not a token ID; 'restic-manager apitoken list' shows them first on each line", arg)
		}
	} else if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	} else if fs.NArg() != 0 {
		return usagef("apitoken list takes no arguments, not %q", fs.Arg(0))
	}
	svc, err := openService(*data, stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	if args[0] == "revoke" {
		if err := svc.RevokeAPIToken(ctx, server.CLIActor(), id); err != nil {
			return refusal(err)
		}
		fmt.Fprintf(stderr, "Revoked API token %d; it stops working at once.\n", id)
		return nil
	}
	tokens, err := svc.ListAPITokens(ctx)
	if err != nil {
		return refusal(err)
	}
	// One token a line, tab-separated: id, label, owner, created, last use.
	for _, t := range tokens {
		label, used := t.Label, "never"
		if label == "" {
			label = "-"
		}
		if t.LastUsedAt != nil {
			used = t.LastUsedAt.UTC().Format(time.RFC3339)
		}
		owner := t.User
		if t.UserDisabled {
			owner += " (disabled)"
		}
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\t%s\n", t.ID, label, owner, t.CreatedAt.UTC().Format(time.RFC3339), used)
	}
	return nil
}
