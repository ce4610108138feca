package agent

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// staleLock remembers that restic may have left a stale lock in the
// repository: it ran when the agent died (power loss, SIGKILL, a crash), or
// it had to be killed after the cancel grace. Before the next job that uses
// the repository the agent runs plain `restic unlock`, which removes stale
// locks only (locks of processes that are gone, or older than 30 minutes)
// and never those of a backup another machine is running; --remove-all is
// never used.
//
// The mark is a file in state_dir, so it outlives another restart before
// the next job; it is removed once an unlock succeeded.
type staleLock struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	reason string // "" when no stale lock is expected
}

func openStaleLock(path string, log *slog.Logger) *staleLock {
	s := &staleLock{path: path, log: log}
	if data, err := os.ReadFile(path); err == nil {
		s.reason = strings.TrimSpace(clipText(string(data)))
		if s.reason == "" {
			s.reason = "an earlier restic run was interrupted"
		}
	}
	return s
}

// pending returns why a stale lock may exist, or "".
func (s *staleLock) pending() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// set records, durably, that a stale lock may exist and why.
func (s *staleLock) set(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reason = reason
	if err := writeFileAtomic(s.path, []byte(reason+"\n"), 0o600); err != nil {
		// In memory it is still set: only a second restart before the
		// next job would forget it, and then a job finds the lock.
		s.log.Warn("cannot record that restic may have left a stale lock", "path", s.path, "err", err)
	}
}

// clear forgets the mark after a successful unlock.
func (s *staleLock) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reason = ""
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("cannot remove the stale-lock mark; the next job runs restic unlock again, which is harmless", "path", s.path, "err", err)
		return
	}
	syncDir(filepath.Dir(s.path))
}
