package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

// TestServeOnPostgres: serve --db postgres://… keeps the store in
// PostgreSQL (no SQLite file in the data directory, which keeps the master
// key), the admin subcommands find the same store through RM_DB, and the
// password in the URL shows in no log line and no error.
func TestServeOnPostgres(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The test cluster trusts its socket, so the password is accepted and
	// ignored: it is here to be looked for in the logs.
	dsn := strings.Replace(servertest.PostgresURL(t), "postgres:///", "postgres://rm:pw-never-shown@/", 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	logs := &lockedBuffer{}
	go func() {
		done <- cmdServe(ctx, []string{"--data", dir, "--db", dsn, "--http", "127.0.0.1:0", "--mqtt", "", "--mqtts", "127.0.0.1:0",
			"--log-level", "debug"}, io.Discard, logs)
	}()
	waitFor(t, "the server to serve", 2*time.Minute, func() bool { return strings.Contains(logs.String(), "restic-manager is serving") })
	if _, err := os.Stat(filepath.Join(dir, server.DBFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("serve --db made %s in the data directory (%v)", server.DBFile, err)
	}

	// An admin subcommand, as a shell runs it with RM_DB set: the data
	// directory has no SQLite store, so only the PostgreSQL one can list
	// the admin serve created.
	if r := runRMWith(t, dir, []string{server.DatabaseEnv + "=" + dsn}, "", "user", "list", "--data", dir); r.code != 0 ||
		!regexp.MustCompile(`(?m)^admin\s`).MatchString(r.stdout) {
		t.Errorf("user list with %s: exit %d\nstdout:\n%s\nstderr:\n%s", server.DatabaseEnv, r.code, r.stdout, r.stderr)
	} else if strings.Contains(r.stdout+r.stderr, "pw-never-shown") {
		t.Errorf("user list shows the password in %s:\n%s%s", server.DatabaseEnv, r.stdout, r.stderr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}

	// A store that is not there: one sentence naming it, without the password.
	err := cmdServe(t.Context(), []string{"--data", t.TempDir(), "--db", "postgres://rm:pw-never-shown@127.0.0.1:1/rm?connect_timeout=5",
		"--http", "127.0.0.1:0", "--mqtt", "", "--mqtts", "127.0.0.1:0"}, io.Discard, logs)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("serve on an unreachable PostgreSQL: %v, want an error naming it", err)
	}
	if strings.Contains(logs.String(), "pw-never-shown") || (err != nil && strings.Contains(err.Error(), "pw-never-shown")) {
		t.Errorf("the password shows:\n%v\n%s", err, logs.String())
	}
}
