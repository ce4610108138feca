package server

import (
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// This file holds fixtures for other packages' tests (restic's testing.go
// pattern). Nothing here is used by the running server.

// TestClock is a settable clock for tests.
type TestClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewTestClock starts a clock at t.
func NewTestClock(t time.Time) *TestClock { return &TestClock{t: t} }

// Now returns the clock's time.
func (c *TestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *TestClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// MustOpenService opens a Service on a real SQLite file in a temporary
// directory, closed when the test ends. opts may be zero.
func MustOpenService(tb testing.TB, opts Options) *Service {
	tb.Helper()
	dir := tb.TempDir()
	db, err := OpenDB(filepath.Join(dir, "restic-manager.db"))
	if err != nil {
		tb.Fatal(err)
	}
	box, err := LoadOrCreateMasterKey(dir)
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	s := NewService(db, box, logger, opts)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// MustCreateUser adds a user with a fixed password ("correct horse battery")
// and returns it.
func MustCreateUser(tb testing.TB, s *Service, name string, role Role) *User {
	tb.Helper()
	u, err := s.CreateUser(tb.Context(), CLIActor(), name, role, TestPassword)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestPassword is the password MustCreateUser gives its users.
const TestPassword = "correct horse battery"

// ActorFor builds the actor for u as the web layer would.
func ActorFor(u *User, via string) Actor {
	return Actor{UserID: u.ID, Name: u.Name, Role: u.Role, RemoteAddr: "127.0.0.1", Via: via}
}
