package servertest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// MustOpenService opens a Service the way the server does (server.Open) on a
// temporary data directory, closed when the test ends. opts may be zero.
//
// Every test's Service is made here, so a fixture-wide choice that production
// must not share is set on opts in this one place: unless opts names a
// PasswordHashCost, the Service hashes passwords at CheapPasswordHash (the
// real 64 MiB argon2id takes seconds under -race, and most tests sign in).
// A test of the hashing itself passes server.DefaultPasswordHashCost().
//
// The store is a copy of a migrated SQLite database in the data directory,
// or, when StoreEnv is postgres, a database of its own in the test
// process's PostgreSQL cluster (PostgresURL).
func MustOpenService(tb testing.TB, opts server.Options) *server.Service {
	tb.Helper()
	return openService(tb, opts, UsePostgres())
}

// MustOpenSQLiteService is MustOpenService on SQLite whatever StoreEnv
// says: for the tests of what only a SQLite store has (its files and their
// modes, the WAL, the query_only read pool and its bound).
func MustOpenSQLiteService(tb testing.TB, opts server.Options) *server.Service {
	tb.Helper()
	return openService(tb, opts, false)
}

func openService(tb testing.TB, opts server.Options, postgres bool) *server.Service {
	tb.Helper()
	if opts.PasswordHashCost == (server.PasswordHashCost{}) {
		opts.PasswordHashCost = CheapPasswordHash()
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	dir := tb.TempDir()
	if opts.Database == "" && postgres {
		opts.Database = PostgresURL(tb)
	} else {
		SeedDataDir(tb, dir)
	}
	s, err := server.Open(dir, logger, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// migrated is a database server.Open created and migrated once per test
// process (the migrations cost about half a second of CPU under -race, and
// nearly every test opens a store).
var migrated struct {
	once sync.Once
	db   []byte
	err  error
}

// SeedDataDir puts a copy of a freshly created and migrated database into
// the data directory dir, unless dir already holds one, so that opening it
// (server.Open, or a whole server) finds the schema current instead of
// running every migration again. It is the very file a first server.Open
// writes; the master key is still made per directory.
func SeedDataDir(tb testing.TB, dir string) {
	tb.Helper()
	migrated.once.Do(func() {
		tmp, err := os.MkdirTemp("", "servertest-db")
		if err != nil {
			migrated.err = err
			return
		}
		defer os.RemoveAll(tmp)
		s, err := server.Open(tmp, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{})
		if err != nil {
			migrated.err = err
			return
		}
		// Everything into the main file: the copy is that file alone.
		_, err = s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			migrated.db, err = os.ReadFile(filepath.Join(tmp, server.DBFile))
		}
		migrated.err = err
	})
	if migrated.err != nil {
		tb.Fatalf("servertest: the migrated database: %v", migrated.err)
	}
	path := filepath.Join(dir, server.DBFile)
	if _, err := os.Stat(path); err == nil {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, migrated.db, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// CheapPasswordHash is the argon2id cost test fixtures sign in with: one
// pass over 64 KiB, microseconds even under -race. Production never uses
// it (server.Options.PasswordHashCost is set by test code only).
func CheapPasswordHash() server.PasswordHashCost {
	return server.PasswordHashCost{Time: 1, MemoryKiB: 64, Threads: 1}
}

// RunInBackground starts s.Run (the ingest writer among others) until the
// test ends.
func RunInBackground(tb testing.TB, s *server.Service) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// Password is the password MustCreateUser gives its users.
const Password = "correct horse battery"

// MustCreateUser adds a user with Password and returns it.
func MustCreateUser(tb testing.TB, s *server.Service, name string, role server.Role) *server.User {
	tb.Helper()
	u, err := s.CreateUser(tb.Context(), server.CLIActor(), name, role, Password)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// ActorFor builds the actor for u as the web layer would.
func ActorFor(u *server.User, via string) server.Actor {
	return server.Actor{UserID: u.ID, Name: u.Name, Role: u.Role, RemoteAddr: "127.0.0.1", Via: via}
}

// Clock is a settable clock (server.Options.Now takes its Now).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
