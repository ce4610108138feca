package agent

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"
)

// writeFileAtomic replaces path with data so that a reader (or a crash) sees
// either the old content or the new, never a torn file: write a temporary
// file in the same directory, fsync it, rename it over path, fsync the
// directory. A missing directory is created with mode 0700 because what we
// write (secrets, state) is for the agent's eyes only.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	// CreateTemp already uses 0600; Chmod makes a wider perm explicit and
	// cannot be undone by a umask.
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", name, path, err)
	}
	ok = true
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Windows cannot open a directory for
// fsync and does not need it, so errors are ignored there and elsewhere only
// weaken durability, never correctness.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// DefaultStateDir is where the agent keeps its state when the config or the
// enroll command does not say: the platform's place for service data.
func DefaultStateDir() string {
	switch runtime.GOOS {
	case "windows":
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return filepath.Join(base, "restic-manager-agent")
	case "darwin":
		return "/Library/Application Support/restic-manager-agent"
	default:
		return "/var/lib/restic-manager-agent"
	}
}

// DefaultConfigPath is the config file the commands use when --config is
// not given: next to the state directory's platform conventions.
func DefaultConfigPath() string {
	switch runtime.GOOS {
	case "windows", "darwin":
		return filepath.Join(DefaultStateDir(), "agent.yaml")
	default:
		return "/etc/restic-manager-agent/agent.yaml"
	}
}

// ioLimit reads at most n bytes from r.
func ioLimit(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }

// clipText makes an untrusted string safe for a log line or a terminal:
// control characters (which could carry terminal escape sequences) become
// '?', and it is cut at 200 bytes.
func clipText(s string) string {
	const max = 200
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if cut {
		s += "..."
	}
	return s
}
