package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/restic-manager/restic-manager/migrations"
)

// DB is the SQLite store. It is safe for concurrent use.
//
// It is two pools on one file (docs/DECISIONS.md, "#15: one writer"):
//
//   - the embedded *sqlx.DB reads. It keeps at most ReadConns connections
//     open and idle (an unbounded pool opened and closed one connection per
//     concurrent query: at 5,000 agents thousands of file descriptors, and
//     half of a reconnect storm's CPU went to opening and closing them), and
//     its connections are query_only, so a write sent to it fails loudly
//     instead of taking SQLite's lock behind the writer's back;
//   - the writer, one connection, which every write goes through:
//     ExecContext, Exec, BeginTxx, Conn and the other write methods below
//     shadow the embedded pool's. SQLite takes one writer at a time anyway;
//     queueing the writers in Go (database/sql hands the connection to a
//     random waiter when it is put back) instead of in SQLite's busy handler
//     (sleep and retry, up to busy_timeout) means a write waits its turn for
//     as long as its context allows and never fails with "database is
//     locked" because the ingest writer kept winning. busy_timeout stays
//     for another process (a CLI subcommand while the server runs).
//
// On PostgreSQL (OpenStore with a postgres:// URL) the two pools are pools
// of PostgresConns connections each, and a write transaction takes an
// advisory lock instead of SQLite's (core_db_postgres.go).
type DB struct {
	*sqlx.DB
	w       *sqlx.DB
	path    string
	dialect Dialect

	stmtMu sync.Mutex
	stmts  map[string]*sqlx.Stmt // the read pool's, prepared once (prepared)

	turns writeTurns // background writers let waiting writes go first (core_db_turns.go)

	// pg is a PostgreSQL store's connection settings, for the dedicated
	// connections of the leader lease and the event bridge
	// (core_cluster.go); nil on SQLite.
	pg *pgx.ConnConfig
}

// ReadConns is the read pool's size: enough for the web's pages and the
// broker's hello handling to read side by side on a small machine, few
// enough that a storm of reconnecting agents queues for a connection
// instead of opening one each (docs/operations.md, "File descriptors").
const ReadConns = 8

// OpenStore opens the store dsn names and applies pending migrations: a
// postgres:// (or postgresql://) URL is a PostgreSQL database, anything
// else a SQLite file (OpenDB; a sqlite: prefix is dropped).
func OpenStore(ctx context.Context, dsn string) (*DB, error) {
	if StoreDialect(dsn) == SQLite {
		return OpenDB(strings.TrimPrefix(dsn, "sqlite:"))
	}
	db, err := openPostgres(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenDB opens (creating if needed) the SQLite database at path and applies
// pending migrations. A database written by a newer schema is refused.
//
// Pragmas are set through the DSN so that every pooled connection gets them:
// WAL lets the web read while the presence flusher writes; SQLite does not check
// foreign keys unless asked, per connection; busy_timeout makes a second
// process (a CLI subcommand while the server runs) wait instead of failing.
//
// The database and its -wal and -shm files hold password hashes and sealed
// secrets, so they are made 0600 whatever the umask: the database file is
// created (or tightened) before SQLite opens it, SQLite gives the -wal and
// -shm files it creates the database file's mode, and ones left by an older
// version are tightened once the store is open.
func OpenDB(path string) (*DB, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	db, err := openPools(path)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	for _, side := range []string{path + "-wal", path + "-shm"} {
		if err := os.Chmod(side, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("store: make %s private (mode 0600): %w; fix its owner or permissions", side, err)
		}
	}
	return db, nil
}

// openPools opens the writer and the read pool on the database file at
// path, without migrating it.
func openPools(path string) (*DB, error) {
	dsn := "file:" + path + "?_time_format=sqlite" +
		"&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
	w, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection, kept for the life of the store.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	r, err := sqlx.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// As many idle as open: a burst of reads reuses connections instead
	// of closing them when it ends; after ten quiet minutes they go.
	r.SetMaxOpenConns(ReadConns)
	r.SetMaxIdleConns(ReadConns)
	r.SetConnMaxIdleTime(10 * time.Minute)
	return &DB{DB: r, w: w, path: path, dialect: SQLite, stmts: make(map[string]*sqlx.Stmt),
		turns: writeTurns{gate: make(chan struct{}, 1)}}, nil
}

// Close closes the prepared statements and both pools.
func (db *DB) Close() error {
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		_ = st.Close()
	}
	clear(db.stmts)
	db.stmtMu.Unlock()
	return errors.Join(db.w.Close(), db.DB.Close())
}

// prepared returns the statement for query prepared on the read pool,
// preparing it on first use. SQLite parses and plans a statement on every
// call otherwise (a fifth of a reconnect storm's CPU); database/sql keeps
// the prepared statement per connection and prepares it again on a
// connection that has not seen it, and the bounded pool keeps its
// connections. query must be a constant of the code: the cache is never
// trimmed. The writer's statements are prepared per transaction
// (tx.PreparexContext): preparing on the writer pool would wait for its one
// connection, which the caller's own transaction may hold.
func (db *DB) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	db.stmtMu.Lock()
	st := db.stmts[query]
	db.stmtMu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.DB.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if have := db.stmts[query]; have != nil { // prepared meanwhile by another caller
		_ = st.Close()
		return have, nil
	}
	db.stmts[query] = st
	return st, nil
}

// getPrepared is GetContext through the read pool's prepared statement.
func (db *DB) getPrepared(ctx context.Context, dest any, query string, args ...any) error {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// ExecContext runs a write on the writer.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer db.turns.waitFor(ctx)()
	leave, err := db.turns.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	return db.w.ExecContext(ctx, query, args...)
}

// Exec runs a write on the writer.
func (db *DB) Exec(query string, args ...any) (sql.Result, error) {
	return db.ExecContext(context.Background(), query, args...)
}

// NamedExecContext runs a write with named arguments on the writer.
func (db *DB) NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error) {
	defer db.turns.waitFor(ctx)()
	leave, err := db.turns.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	return db.w.NamedExecContext(ctx, query, arg)
}

// BeginTxx begins a transaction on the writer (every transaction of the
// server writes: they begin IMMEDIATE on SQLite, and take the write lock
// on PostgreSQL).
func (db *DB) BeginTxx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error) {
	defer db.turns.waitFor(ctx)() // until the writer (and on PostgreSQL its lock) is ours
	leave, err := db.turns.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	tx, err := db.w.BeginTxx(ctx, opts)
	if err != nil || db.dialect != Postgres {
		return tx, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(writeLockKey)); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("store: take the write lock: %w", err)
	}
	return tx, nil
}

// Beginx begins a transaction on the writer.
func (db *DB) Beginx() (*sqlx.Tx, error) { return db.BeginTxx(context.Background(), nil) }

// MustBegin begins a transaction on the writer and panics on an error.
func (db *DB) MustBegin() *sqlx.Tx {
	tx, err := db.Beginx()
	if err != nil {
		panic(err)
	}
	return tx
}

// BeginTx begins a transaction on the writer.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	tx, err := db.BeginTxx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return tx.Tx, nil
}

// Begin begins a transaction on the writer.
func (db *DB) Begin() (*sql.Tx, error) { return db.BeginTx(context.Background(), nil) }

// Conn hands out the writer's connection; nothing else writes until it is
// closed.
func (db *DB) Conn(ctx context.Context) (*sql.Conn, error) {
	leave, err := db.turns.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	return db.w.Conn(ctx)
}

// WriterStats are the writer pool's figures (the embedded Stats are the
// read pool's).
func (db *DB) WriterStats() sql.DBStats { return db.w.Stats() }

// createPrivate creates the database file with mode 0600, or tightens an
// existing one to it. Chmod after create makes the mode independent of the
// umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("store: make %s private (mode 0600): %w; fix its owner or permissions", path, err)
	}
	return nil
}

// Path is the database file name (a PostgreSQL store's URL, without its
// password).
func (db *DB) Path() string { return db.path }

// Dialect is the store's engine.
func (db *DB) Dialect() Dialect { return db.dialect }

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the migrations of dialect d: migrations/*.sql for
// SQLite, migrations/postgres/*.sql for PostgreSQL, the same numbers and
// names (core_dialect_schema_test.go holds the two schemas equal).
func loadMigrations(d Dialect) ([]migration, error) {
	var fsys fs.FS = migrations.FS
	if d == Postgres {
		sub, err := fs.Sub(migrations.Postgres, "postgres")
		if err != nil {
			return nil, err
		}
		fsys = sub
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, rest, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(rest, ".sql") {
			return nil, fmt.Errorf("migration file %q is not NNNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations are not numbered 1..N without gaps at %s", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the highest migration this build knows.
func SchemaVersion() int {
	ms, err := loadMigrations(SQLite)
	if err != nil {
		return 0
	}
	return len(ms)
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.dialect)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return db.migrateTo(ctx, ms)
}

// migrateTo applies the migrations of ms the database has not had yet. A
// database that already has a schema is first copied, consistently, to
// <data>/backups (backupBeforeMigration): an upgrade that goes wrong can go
// back to the copy with the old binary.
func (db *DB) migrateTo(ctx context.Context, ms []migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	var current int
	if err := db.GetContext(ctx, &current, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("store: %s was written by a newer restic-manager (schema %d, this build knows %d); "+
			"run the newer version or restore a backup of the data directory", db.path, current, len(ms))
	}
	if current > 0 && current < len(ms) && db.dialect == SQLite {
		backup, err := db.backupBeforeMigration(ctx, current)
		if err != nil {
			return err
		}
		slog.Info("store: copied the database before migrating it", "backup", backup, "from_schema", current, "to_schema", len(ms))
	}
	for _, m := range ms[current:] {
		err := db.inTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UTC())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: apply migration %s: %w", m.name, err)
		}
	}
	return nil
}

// backupBeforeMigration writes a consistent copy of the database at schema
// version to <dir of the database>/backups/restic-manager-schema<version>-<UTC time>.db
// with SQLite's VACUUM INTO (a snapshot, also while another process reads)
// and returns its path. The copy holds the same secrets as the database, so
// it is created 0600 (VACUUM INTO needs an empty or missing file; it keeps
// the mode of an empty one) in a 0700 directory. Old copies are kept: the
// operator deletes them (docs/operations.md).
func (db *DB) backupBeforeMigration(ctx context.Context, version int) (string, error) {
	dir := filepath.Join(filepath.Dir(db.path), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("store: create %s for the backup taken before a migration: %w; fix its permissions or free disk space", dir, err)
	}
	name := fmt.Sprintf("restic-manager-schema%d-%s.db", version, time.Now().UTC().Format("20060102T150405.000Z"))
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("store: create the backup %s: %w; fix the permissions of %s", path, err, dir)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return "", fmt.Errorf("store: make the backup %s private (mode 0600): %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("store: copy %s to %s before migrating it: %w; free disk space in %s (the migration did not run)", db.path, path, err, dir)
	}
	return path, nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
