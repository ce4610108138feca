package servertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restic-manager/restic-manager/agent/agenttest"
	"github.com/restic-manager/restic-manager/server"
)

// StoreEnv selects the store every MustOpenService and SeedDataDir give a
// test: unset or "sqlite" is a SQLite file in the data directory (the
// default); "postgres" is a database of a private PostgreSQL cluster this
// package starts once per test process (make test runs the server
// package a second time so).
const StoreEnv = "RM_TEST_DB"

// UsePostgres reports whether StoreEnv asks for PostgreSQL.
func UsePostgres() bool { return os.Getenv(StoreEnv) == "postgres" }

// pgCluster is the test process's PostgreSQL: started on first use, its
// socket and data in a temporary directory, stopped by StopPostgres.
var pgCluster struct {
	once     sync.Once
	err      error // why there is none
	missing  bool  // err is "not installed": Unavailable, not a failure
	dir      string
	cmd      *exec.Cmd
	exited   chan struct{}
	mu       sync.Mutex // admin, CREATE and DROP DATABASE
	admin    *pgx.Conn
	template string
	next     atomic.Int64
}

// pgUser is the superuser initdb creates; the cluster trusts local
// connections on its socket, which only its directory's owner can reach.
const pgUser = "rm"

// PostgresURL gives the test a database of its own, created from the
// migrated template (CREATE DATABASE … TEMPLATE: milliseconds, no
// migrations run), dropped when the test ends. A machine without
// PostgreSQL's server binaries skips the test (fails it under
// RM_TEST_DISALLOW_SKIP=1).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, true)
}

// StoreURL is the store a test that opens (and reopens) a Service itself
// passes as server.Options.Database: "" (the data directory's SQLite file)
// unless StoreEnv is postgres, then a PostgresURL of its own.
func StoreURL(tb testing.TB) string {
	tb.Helper()
	if !UsePostgres() {
		return ""
	}
	return PostgresURL(tb)
}

// EmptyPostgresURL is PostgresURL's database without the schema: for a
// test of the migrations themselves.
func EmptyPostgresURL(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, false)
}

func newDatabase(tb testing.TB, migrated bool) string {
	tb.Helper()
	startCluster()
	if pgCluster.err != nil {
		if pgCluster.missing {
			agenttest.Unavailable(tb, "%s=postgres: %v", StoreEnv, pgCluster.err)
		}
		tb.Fatalf("servertest: PostgreSQL: %v", pgCluster.err)
	}
	name := fmt.Sprintf("rm_test_%d_%d", os.Getpid(), pgCluster.next.Add(1))
	create := `CREATE DATABASE ` + name
	if migrated {
		// FILE_COPY copies the template's few megabytes as files; the
		// default (WAL_LOG, PostgreSQL 15+) writes every block through the
		// WAL: about three times the time per test here.
		create += ` TEMPLATE ` + pgCluster.template + ` STRATEGY = FILE_COPY`
	}
	if err := adminExec(tb.Context(), create); err != nil {
		tb.Fatalf("servertest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := adminExec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("servertest: drop database %s: %v", name, err)
		}
	})
	return clusterURL(name)
}

// StopPostgres stops the cluster if this process started one and removes
// its directory. A package whose tests use PostgreSQL calls it from
// TestMain after m.Run.
func StopPostgres() {
	if pgCluster.cmd == nil {
		return
	}
	if pgCluster.admin != nil {
		_ = pgCluster.admin.Close(context.Background())
	}
	// SIGINT is PostgreSQL's fast shutdown: sessions are ended, no
	// checkpoint is waited for beyond the shutdown one.
	_ = pgCluster.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-pgCluster.exited:
	case <-time.After(30 * time.Second):
		_ = pgCluster.cmd.Process.Kill()
		<-pgCluster.exited
	}
	_ = os.RemoveAll(pgCluster.dir)
}

func clusterURL(db string) string {
	return "postgres:///" + db + "?host=" + pgCluster.dir + "&user=" + pgUser + "&sslmode=disable"
}

func adminExec(ctx context.Context, sql string) error {
	pgCluster.mu.Lock()
	defer pgCluster.mu.Unlock()
	_, err := pgCluster.admin.Exec(ctx, sql)
	return err
}

func startCluster() {
	pgCluster.once.Do(func() {
		pgCluster.err = runCluster()
	})
}

// pgBinDir finds initdb and postgres: on PATH, or in Debian's
// /usr/lib/postgresql/<major>/bin (the newest).
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL's server (initdb, postgres) is not installed (apt-get install postgresql)")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// runCluster makes and starts the cluster and the migrated template.
//
// PostgreSQL refuses to run as root (CI runs the tests as root): there
// initdb and postgres run as the postgres user Debian's package creates
// (or nobody), owning the cluster's directory; the socket is reached by
// root all the same.
func runCluster() error {
	bin, err := pgBinDir()
	if err != nil {
		pgCluster.missing = true
		return err
	}
	dir, err := os.MkdirTemp(clusterParent(), "rm-pg-")
	if err != nil {
		return err
	}
	pgCluster.dir = dir
	initdbAttr, pgAttr, err := clusterProcAttrs(dir)
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", pgUser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = initdbAttr
	initdb.Dir = dir // the test's own directory may be closed to that user
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	// Only the socket in dir (no TCP); durability is not a test's concern.
	pg := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=400", "-c", "shared_buffers=32MB")
	pg.SysProcAttr = pgAttr
	pg.Dir = dir
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return err
	}
	pg.Stdout, pg.Stderr = log, log
	if err := pg.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	pgCluster.cmd, pgCluster.exited = pg, make(chan struct{})
	go func() { _ = pg.Wait(); log.Close(); close(pgCluster.exited) }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		pgCluster.admin, err = pgx.Connect(ctx, clusterURL("postgres"))
		if err == nil {
			break
		}
		select {
		case <-pgCluster.exited:
			out, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %s", out)
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within 60 s: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	pgCluster.template = "rm_template"
	if _, err := pgCluster.admin.Exec(ctx, `CREATE DATABASE `+pgCluster.template); err != nil {
		return err
	}
	db, err := server.OpenStore(ctx, clusterURL(pgCluster.template))
	if err != nil {
		return fmt.Errorf("migrate the template: %w", err)
	}
	return db.Close()
}
