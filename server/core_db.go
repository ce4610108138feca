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
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/restic-manager/restic-manager/migrations"
)

// DB is the SQLite store. It is safe for concurrent use.
type DB struct {
	*sqlx.DB
	path string
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
	dsn := "file:" + path + "?_time_format=sqlite" +
		"&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
	x, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{DB: x, path: path}
	if err := db.migrate(context.Background()); err != nil {
		x.Close()
		return nil, err
	}
	for _, side := range []string{path + "-wal", path + "-shm"} {
		if err := os.Chmod(side, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			x.Close()
			return nil, fmt.Errorf("store: make %s private (mode 0600): %w; fix its owner or permissions", side, err)
		}
	}
	return db, nil
}

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

// Path is the database file name.
func (db *DB) Path() string { return db.path }

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
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
		body, err := fs.ReadFile(migrations.FS, e.Name())
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
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
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
	if current > 0 && current < len(ms) {
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

// isUniqueViolation reports a UNIQUE constraint failure (modernc reports it in the message).
func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
