//go:build unix

package server

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The attack run found the database, -wal and -shm at 0644 in a data
// directory that already existed as 0755: anyone on the machine could read
// the password hashes and sealed secrets.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, which made them 0644
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "restic-manager.db")
	check := func(when string) {
		t.Helper()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", when, filepath.Base(f), fi.Mode().Perm())
			}
		}
	}
	db, err := OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO settings (key, value, sealed) VALUES ('mode-test', x'00', 0)`); err != nil {
		t.Fatal(err)
	}
	check("new database")

	// An older version left all three world-readable: opening tightens them.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2, err := OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	check("reopened database")
	db2.Close()
	db.Close()
}
