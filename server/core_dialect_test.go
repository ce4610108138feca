package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRebindPlaceholders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{`SELECT '?', "a?" FROM t WHERE x = ?`, `SELECT '?', "a?" FROM t WHERE x = $1`},
		{`SELECT 'it''s ?' WHERE a = ? -- why? because
			AND b = ? /* and ? */ AND c LIKE ? ESCAPE '\'`, `SELECT 'it''s ?' WHERE a = $1 -- why? because
			AND b = $2 /* and ? */ AND c LIKE $3 ESCAPE '\'`},
		{`SELECT '\x'::bytea, ?`, `SELECT '\x'::bytea, $1`},
		{`SELECT 'open ?`, `SELECT 'open ?`},
	} {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestStoreDialectAndRedaction(t *testing.T) {
	for _, c := range []struct {
		dsn     string
		dialect Dialect
		shown   string
	}{
		{"data/restic-manager.db", SQLite, "data/restic-manager.db"},
		{"sqlite:/var/lib/rm.db", SQLite, "sqlite:/var/lib/rm.db"},
		{"postgres://rm:s3cret@db:5432/rm?sslmode=require", Postgres, "postgres://rm:xxxxx@db:5432/rm?sslmode=require"},
		{"postgresql://rm@db/rm?password=s3cret", Postgres, "postgresql://rm@db/rm?password=xxxxx"},
		{"postgres://rm:s3cret@db:5432/rm%zz", Postgres, "postgres://(unparsable URL)"},
	} {
		if d := StoreDialect(c.dsn); d != c.dialect {
			t.Errorf("StoreDialect(%q) = %v, want %v", c.dsn, d, c.dialect)
		}
		if got := RedactStoreURL(c.dsn); got != c.shown {
			t.Errorf("RedactStoreURL(%q) = %q, want %q", c.dsn, got, c.shown)
		}
	}
}

// A store that cannot be reached is an error that names it without its
// password, and the log says nothing of the password either.
func TestPostgresPasswordNeverShown(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	for _, dsn := range []string{
		"postgres://rm:s3cret-pw@127.0.0.1:1/rm?connect_timeout=5&sslmode=disable",
		"postgres://rm@127.0.0.1:1/rm?password=s3cret-pw&connect_timeout=5&sslmode=disable",
		"postgres://rm:s3cret-pw@127.0.0.1:1/rm?sslmode=bogus",
	} {
		_, err := Open(t.TempDir(), logger, Options{Database: dsn})
		if err == nil {
			t.Fatalf("%s: opened a store on port 1", RedactStoreURL(dsn))
		}
		if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(logs.String(), "s3cret-pw") {
			t.Fatalf("the password shows: %v\n%s", err, logs.String())
		}
		if !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("the error does not name the store: %v", err)
		}
	}
}
