package server_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/restic-manager/restic-manager/server"
)

// TestOpenMakesTheDataDirectoryPrivateAndReopensIt: server.Open is how serve,
// the admin subcommands and the tests open a data directory. It tightens a
// directory others can read to 0700, keeps the database and the master key
// private, and a second Open finds the same store and key: the CA sealed
// under the key by the first opens in the second.
func TestOpenMakesTheDataDirectoryPrivateAndReopensIt(t *testing.T) {
	t.Setenv(server.MasterKeyEnv, "")
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := server.Open(dir, logger, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.LoadOrCreateTLS(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		dir: 0o700, filepath.Join(dir, server.DBFile): 0o600, filepath.Join(dir, "master.key"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v after Open, want %v", path, got, want)
		}
	}

	s, err = server.Open(dir, logger, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again, err := s.LoadOrCreateTLS(t.Context(), nil)
	if err != nil {
		t.Fatalf("the second Open cannot read what the first sealed: %v", err)
	}
	if again.Fingerprint != first.Fingerprint {
		t.Errorf("the second Open made a new CA (%s, first %s): it did not find the same store and key", again.Fingerprint, first.Fingerprint)
	}
}
