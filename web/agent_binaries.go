package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// agentBinaryPrefix starts the name of every cross-compiled agent, as
// `make agents` writes them: restic-manager-agent-OS-ARCH[.exe].
const agentBinaryPrefix = "restic-manager-agent-"

// agentVersionFile is the file next to the binaries that holds their version
// (`make agents` writes it with the binaries). The server does not run a
// binary to learn its version, and -X main.version is not in Go's build info.
const agentVersionFile = "VERSION"

// agentPlatforms are the GOOS and GOARCH values a binary may be served for.
// "arm" is 32-bit ARM (built with GOARM=7).
var (
	agentOSes   = []string{"linux", "darwin", "windows"}
	agentArches = []string{"amd64", "arm64", "arm"}
)

// AgentBinary is one agent build the server hands out: the entry of
// GET /agent/binaries and the headers of GET /agent/binary.
type AgentBinary struct {
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// Platform is "os/arch", how people and logs name a build.
func (b AgentBinary) Platform() string { return b.OS + "/" + b.Arch }

// AgentBinaries is a directory of cross-compiled agents. It is read again on
// every request, so binaries rebuilt while the server runs are served at
// once; each file's SHA-256 is computed once per (size, modification time)
// and remembered, so a download does not hash the binary again.
type AgentBinaries struct {
	dir string

	mu   sync.Mutex
	sums map[string]fileSum // file name → its last known sum
}

// fileSum is the SHA-256 of a file as it was at (size, mtime).
type fileSum struct {
	size  int64
	mtime time.Time
	hex   string
}

// NewAgentBinaries serves the agents in dir. The directory may be missing or
// empty: the server then answers every download with a 404 that says so.
func NewAgentBinaries(dir string) *AgentBinaries {
	return &AgentBinaries{dir: dir, sums: make(map[string]fileSum)}
}

// Dir is the directory the binaries are read from.
func (a *AgentBinaries) Dir() string { return a.dir }

// List returns every binary in the directory, sorted by platform, hashing
// those it has not seen in their current form. A missing directory is an
// empty list.
func (a *AgentBinaries) List() ([]AgentBinary, error) {
	entries, err := os.ReadDir(a.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent binaries: read %s: %w", a.dir, err)
	}
	version := a.version()
	var out []AgentBinary
	for _, e := range entries {
		goos, arch, ok := parseAgentBinaryName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(a.dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("agent binaries: %w", err)
		}
		sum, size, err := a.sum(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, AgentBinary{OS: goos, Arch: arch, Version: version, SHA256: sum, Size: size})
	}
	slices.SortFunc(out, func(x, y AgentBinary) int { return strings.Compare(x.Platform(), y.Platform()) })
	return out, nil
}

// Open opens the binary for goos/arch and describes it. The description is
// of the open file itself, so the checksum matches the bytes read from it
// even if the file is replaced meanwhile. It returns fs.ErrNotExist when
// there is no such build.
func (a *AgentBinaries) Open(goos, arch string) (*os.File, AgentBinary, error) {
	if !slices.Contains(agentOSes, goos) || !slices.Contains(agentArches, arch) {
		return nil, AgentBinary{}, fs.ErrNotExist
	}
	f, err := os.Open(filepath.Join(a.dir, agentBinaryName(goos, arch)))
	if err != nil {
		return nil, AgentBinary{}, err
	}
	sum, size, err := a.sum(f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, AgentBinary{}, err
	}
	return f, AgentBinary{OS: goos, Arch: arch, Version: a.version(), SHA256: sum, Size: size}, nil
}

// sum returns the hex SHA-256 and the size of the open file f, from the
// cache when the file's size and modification time are unchanged.
func (a *AgentBinaries) sum(f *os.File) (string, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("agent binaries: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fs.ErrNotExist
	}
	name := filepath.Base(f.Name())
	a.mu.Lock()
	cached, ok := a.sums[name]
	a.mu.Unlock()
	if ok && cached.size == fi.Size() && cached.mtime.Equal(fi.ModTime()) {
		return cached.hex, fi.Size(), nil
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("agent binaries: hash %s: %w", f.Name(), err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	a.mu.Lock()
	a.sums[name] = fileSum{size: n, mtime: fi.ModTime(), hex: sum}
	a.mu.Unlock()
	return sum, n, nil
}

// version reads the version the binaries were built as; "unknown" when the
// directory has no VERSION file (binaries copied there by hand).
func (a *AgentBinaries) version() string {
	b, err := os.ReadFile(filepath.Join(a.dir, agentVersionFile))
	if v := strings.TrimSpace(string(b)); err == nil && agentVersionRE.MatchString(v) {
		return v
	}
	return "unknown"
}

// agentVersionRE is what a version may look like (`git describe` output,
// "dev", semver): it goes into a header and into shell scripts.
var agentVersionRE = regexp.MustCompile(`^[0-9A-Za-z._+~-]{1,100}$`)

// agentBinaryName is the file name `make agents` gives the build for goos/arch.
func agentBinaryName(goos, arch string) string {
	name := agentBinaryPrefix + goos + "-" + arch
	if goos == "windows" {
		name += ".exe"
	}
	return name
}

// parseAgentBinaryName is the inverse of agentBinaryName; other files in the
// directory (VERSION, checksums, archives) are not binaries.
func parseAgentBinaryName(name string) (goos, arch string, ok bool) {
	rest, ok := strings.CutPrefix(name, agentBinaryPrefix)
	if !ok {
		return "", "", false
	}
	goos, arch, ok = strings.Cut(strings.TrimSuffix(rest, ".exe"), "-")
	if !ok || !slices.Contains(agentOSes, goos) || !slices.Contains(agentArches, arch) || agentBinaryName(goos, arch) != name {
		return "", "", false
	}
	return goos, arch, true
}
