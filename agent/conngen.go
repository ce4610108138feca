package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// connGenFile is the name, inside state_dir, of the connection counter.
const connGenFile = "conn_gen"

// connGenCounter is the connection generation: a number that grows by one for
// every connection attempt and never goes back, not even across restarts. It
// goes into the Last Will and into hello, so the server can tell a late
// "offline" Will of an old connection from the state of the current one.
//
// It is written (fsync'd, atomically) before the connection that uses it is
// made: a crash may skip a number, never reuse one.
type connGenCounter struct {
	mu   sync.Mutex
	path string
	last uint64
}

// openConnGen reads the counter from stateDir, creating the directory (0700)
// when missing. A missing file starts at 0; a corrupt one is an error,
// because guessing could reuse a number the server has already seen.
func openConnGen(stateDir string) (*connGenCounter, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir %s cannot be created (%w): create it or fix state_dir in the config", stateDir, err)
	}
	c := &connGenCounter{path: filepath.Join(stateDir, connGenFile)}
	data, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", c.path, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s is corrupt (%q): restore it from a backup, or write a number larger than any connection generation the server has seen", c.path, clipText(string(data)))
	}
	c.last = n
	return c, nil
}

// Next durably reserves and returns the next generation.
func (c *connGenCounter) Next() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.last + 1
	if err := writeFileAtomic(c.path, []byte(strconv.FormatUint(n, 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("save connection generation: %w", err)
	}
	c.last = n
	return n, nil
}
