package restic

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

// The cache directory restic is given when its environment leads it to
// none, per OS, and left alone otherwise.
func TestFallbackCacheDir(t *testing.T) {
	t.Parallel()
	home := func() (string, error) { return "/home/agent", nil }
	noHome := func() (string, error) { return "", errors.New("no such user") }
	for _, c := range []struct {
		name string
		goos string
		env  []string
		home func() (string, error)
		want string // "": none added
	}{
		{"service without HOME", "linux", []string{"PATH=/usr/bin"}, home, filepath.Join("/home/agent", ".cache", "restic")},
		{"HOME set", "linux", []string{"HOME=/root"}, home, ""},
		{"XDG_CACHE_HOME set", "linux", []string{"XDG_CACHE_HOME=/var/cache"}, home, ""},
		{"RESTIC_CACHE_DIR set", "linux", []string{"RESTIC_CACHE_DIR=/srv/cache"}, home, ""},
		{"empty HOME is none", "freebsd", []string{"HOME="}, home, filepath.Join("/home/agent", ".cache", "restic")},
		{"the last value wins", "linux", []string{"HOME=/root", "HOME="}, home, filepath.Join("/home/agent", ".cache", "restic")},
		{"no user home known", "linux", nil, noHome, ""},
		{"launchd without HOME", "darwin", []string{"XDG_CACHE_HOME=/x"}, home, filepath.Join("/home/agent", "Library", "Caches", "restic")},
		{"macOS with HOME", "darwin", []string{"HOME=/Users/a"}, home, ""},
		{"Windows without LocalAppData", "windows", []string{"Path=C:\\Windows"}, home, filepath.Join("/home/agent", "AppData", "Local", "restic")},
		{"Windows ignores the case of names", "windows", []string{"LOCALAPPDATA=C:\\x"}, home, ""},
		{"Windows RESTIC_CACHE_DIR in any case", "windows", []string{"restic_cache_dir=C:\\c"}, home, ""},
	} {
		dir, ok := fallbackCacheDir(c.env, c.goos, c.home)
		if ok != (c.want != "") || dir != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, dir, ok, c.want)
		}
	}
}

// The agent's service runs without $HOME (systemd without User=,
// launchd): restic run by it had no cache ("unable to open cache") and
// read every index and tree from the repository again on each run. The
// runner gives it the cache its user would have.
func TestResticWithoutHomeHasACache(t *testing.T) {
	t.Parallel()
	requireUnix(t) // the variables are Unix's
	r, _ := newRunner(t)
	var env []string
	for _, kv := range r.Env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "HOME" && name != "XDG_CACHE_HOME" && name != "RESTIC_CACHE_DIR" {
			env = append(env, kv)
		}
	}
	r.Env = env
	home := t.TempDir()
	r.homeDir = func() (string, error) { return home, nil }
	repo := initRepo(t, r)
	src := t.TempDir()
	genTree(t, src, 5, 1<<10)
	lines := &lineLog{}
	res := mustRun(t, r, Op{Kind: topics.JobBackup, Repository: repo, Backup: BackupOptions{Paths: []string{src}}, OnLine: lines.add})
	if res.Outcome != OutcomeSucceeded {
		t.Fatalf("backup: %+v\n%s", res, lines)
	}
	if strings.Contains(lines.String(), "unable to open cache") {
		t.Errorf("restic ran without a cache:\n%s", lines)
	}
	if _, err := os.Stat(filepath.Join(home, ".cache", "restic", "CACHEDIR.TAG")); err != nil {
		t.Errorf("no restic cache in the user's home: %v", err)
	}
}
