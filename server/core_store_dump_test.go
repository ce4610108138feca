package server_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/restic-manager/restic-manager/server"
)

// storedData is everything the store holds, for tests that look for a
// secret where it must not be: SQLite's files (the WAL checkpointed into
// the database first), or, on PostgreSQL, every table's rows as text
// (bytea shows as hex there: containsSecret looks for that too).
func storedData(t *testing.T, s *server.Service) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if s.DB().Dialect() == server.Postgres {
		var tables []string
		if err := s.DB().Select(&tables, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`); err != nil {
			t.Fatal(err)
		}
		for _, tbl := range tables {
			var rows []string
			if err := s.DB().Select(&rows, `SELECT t::text FROM "`+tbl+`" t`); err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			for _, r := range rows {
				b.WriteString(r)
				b.WriteByte('\n')
			}
			out["table "+tbl] = b.Bytes()
		}
		return out
	}
	if _, err := s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(s.DB().Path() + "*")
	if len(files) == 0 {
		t.Fatal("no database files found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// containsSecret reports whether data holds secret as it is or hex-encoded.
func containsSecret(data, secret []byte) bool {
	return bytes.Contains(data, secret) || bytes.Contains(data, []byte(hex.EncodeToString(secret)))
}
