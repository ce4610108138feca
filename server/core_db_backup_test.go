package server

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
)

// openUnmigrated opens the SQLite file at path as a DB without migrating it.
func openUnmigrated(t *testing.T, path string) *DB {
	t.Helper()
	db, err := openPools(path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openReadOnly opens the SQLite file at path read-only, leaving it as it is
// (no -wal or -shm file is created next to it).
func openReadOnly(t *testing.T, path string) *sqlx.DB {
	t.Helper()
	x, err := sqlx.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// schemaOf reads the schema version recorded in the database at path.
func schemaOf(t *testing.T, path string) int {
	t.Helper()
	db := openReadOnly(t, path)
	defer db.Close()
	var v int
	if err := db.Get(&v, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`); err != nil {
		t.Fatalf("schema of %s: %v", path, err)
	}
	return v
}

// An upgrade (a database one migration behind this build) first writes a
// consistent 0600 copy of the old database to data/backups, named after its
// schema version; the copy opens as the old version, with its data.
func TestMigrationBacksUpTheOldDatabaseFirst(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "restic-manager.db")
	ms, err := loadMigrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	old := len(ms) - 1
	db := openUnmigrated(t, path)
	if err := db.migrateTo(context.Background(), ms[:old]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO settings (key, value) VALUES ('backup-test', 'kept')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(filepath.Join(dir, "backups")); !os.IsNotExist(err) {
		t.Fatalf("a fresh database was backed up: %v", err)
	}

	db, err = OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := schemaOf(t, path); got != len(ms) {
		t.Fatalf("database at schema %d after OpenDB, want %d", got, len(ms))
	}
	backups, err := filepath.Glob(filepath.Join(dir, "backups", "*"))
	if err != nil || len(backups) != 1 {
		t.Fatalf("backups: %v (err %v), want exactly one", backups, err)
	}
	b := backups[0]
	if name := filepath.Base(b); !strings.HasPrefix(name, "restic-manager-schema"+strconv.Itoa(old)+"-") || !strings.HasSuffix(name, ".db") {
		t.Errorf("backup named %s", name)
	}
	for p, want := range map[string]os.FileMode{b: 0o600, filepath.Dir(b): 0o700 | os.ModeDir} {
		if st, err := os.Stat(p); err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v (err %v), want %v", p, st.Mode(), err, want)
		}
	}
	if got := schemaOf(t, b); got != old {
		t.Fatalf("the backup is at schema %d, want the old %d", got, old)
	}
	copyDB := openReadOnly(t, b)
	defer copyDB.Close()
	var value string
	if err := copyDB.Get(&value, `SELECT value FROM settings WHERE key = 'backup-test'`); err != nil || value != "kept" {
		t.Fatalf("the backup lacks the old data: %q, %v", value, err)
	}

	// Opening the migrated database again migrates and copies nothing.
	db, err = OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if again, _ := filepath.Glob(filepath.Join(dir, "backups", "*")); len(again) != 1 {
		t.Fatalf("backups after a reopen with nothing to migrate: %v", again)
	}
}
