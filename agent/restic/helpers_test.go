package restic

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// testPassword is long and distinctive so a leak is easy to find.
const testPassword = "pw-Zx81-correct-horse-battery"

func requireRestic(t testing.TB) string {
	t.Helper()
	return agenttest.RequireBinary(t, "restic")
}

func requireUnix(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell script as a stand-in binary")
	}
}

// resticAtLeast reports whether the installed restic is at least
// major.minor.patch: the tests run against old releases too (Debian 12 ships
// 0.14), which lack the exit codes 10–12 and some JSON.
func resticAtLeast(t testing.TB, major, minor, patch int) bool {
	t.Helper()
	out, err := exec.Command(requireRestic(t), "version").Output()
	if err != nil {
		t.Fatalf("restic version: %v", err)
	}
	var a, b, c int
	if _, err := fmt.Sscanf(string(out), "restic %d.%d.%d", &a, &b, &c); err != nil {
		t.Fatalf("restic version %q: %v", out, err)
	}
	return a > major || a == major && (b > minor || b == minor && c >= patch)
}

// exitCode is the code a restic that knows it exits with (since 0.17), or 1.
func exitCode(t testing.TB, code int) int {
	since := map[int][3]int{ExitNoRepository: {0, 17, 0}, ExitLocked: {0, 17, 0}, ExitWrongPassword: {0, 17, 1}}[code]
	if resticAtLeast(t, since[0], since[1], since[2]) {
		return code
	}
	return ExitFatal
}

// logBuffer collects a Runner's slog output for leak checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newRunner returns a Runner for the real restic with a private cache dir,
// logging to the test output and to the returned buffer.
func newRunner(t testing.TB) (*Runner, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	h := slog.NewTextHandler(teeWriter{t, logs}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return &Runner{
		Binary: requireRestic(t),
		Env:    append(os.Environ(), "RESTIC_CACHE_DIR="+t.TempDir()),
		Logger: slog.New(h),
	}, logs
}

// teeWriter sends log output to the test's output and to a buffer.
type teeWriter struct {
	t    testing.TB
	logs *logBuffer
}

func (w teeWriter) Write(p []byte) (int, error) {
	w.logs.Write(p)
	return w.t.Output().Write(p)
}

// lineLog records OnLine calls.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(stream Stream, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(stream)+": "+line)
}

func (l *lineLog) first() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return l.lines[0]
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// repoAt is a Repository for a local path with the test password.
func repoAt(path string) Repository {
	return Repository{URL: path, Password: testPassword}
}

// initRepo returns a fresh, empty repository in a temp dir with cheap key
// derivation (agenttest.InitRepository), so that every restic run of a test
// opens it at once. It does not need the test's Runner: the tests whose
// subject is init run that on a new path instead.
func initRepo(t testing.TB, _ *Runner) Repository {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	agenttest.InitRepository(t, dst, testPassword)
	return repoAt(dst)
}

func mustRun(t testing.TB, r *Runner, op Op) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.Run(ctx, op)
	if err != nil {
		t.Fatalf("run %s: %v", op.Kind, err)
	}
	return res
}

// genTree writes files under dir with sizes from 0 to maxSize, in nested
// directories, from a fixed seed; it returns their relative paths.
func genTree(t testing.TB, dir string, files, maxSize int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(files)))
	var rel []string
	for i := range files {
		p := filepath.Join("d"+string(rune('a'+i%5)), "sub"+string(rune('0'+i%3)), "file"+strconv.Itoa(i)+".dat")
		data := make([]byte, rng.IntN(maxSize+1))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rel = append(rel, p)
	}
	return rel
}

// treeDigest maps each regular file under dir to a hash of its content.
func treeDigest(t testing.TB, dir string) map[string][32]byte { return agenttest.TreeDigest(t, dir) }

// lockFiles lists the lock files of a local repository.
func lockFiles(t testing.TB, repo string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repo, "locks"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// waitFor polls cond until it holds or the deadline passes: waiting on a
// condition, not sleeping for a guessed time.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeBinary writes a shell script standing in for restic, for what the
// real one cannot be made to do on demand (ignore SIGINT, print its env).
func fakeBinary(t testing.TB, script string) string {
	t.Helper()
	requireUnix(t)
	path := filepath.Join(t.TempDir(), "fake-restic")
	agenttest.WriteExecutable(t, path, "#!/bin/sh\n"+script) // not os.WriteFile: ETXTBSY beside parallel tests
	return path
}
