package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	// Not parallel: t.Setenv for the admin subcommand.
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

	t.Setenv(server.DatabaseEnv, dsn)
	svc, err := openService(dir, io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if svc.DB().Dialect() != server.Postgres {
		t.Errorf("the admin subcommands opened %v, want postgres", svc.DB().Dialect())
	}
	if _, err := svc.UserByName(ctx, "admin"); err != nil {
		t.Errorf("the admin serve created is not in the PostgreSQL store: %v", err)
	}
	svc.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}

	// A store that is not there: one sentence naming it, without the password.
	err = cmdServe(t.Context(), []string{"--data", t.TempDir(), "--db", "postgres://rm:pw-never-shown@127.0.0.1:1/rm?connect_timeout=5",
		"--http", "127.0.0.1:0", "--mqtt", "", "--mqtts", "127.0.0.1:0"}, io.Discard, logs)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("serve on an unreachable PostgreSQL: %v, want an error naming it", err)
	}
	if strings.Contains(logs.String(), "pw-never-shown") || (err != nil && strings.Contains(err.Error(), "pw-never-shown")) {
		t.Errorf("the password shows:\n%v\n%s", err, logs.String())
	}
}
