package restic

import (
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
)

// restic keeps a local cache of a repository's index, snapshots and tree
// packs, in $RESTIC_CACHE_DIR or else in the OS's user cache directory,
// which it finds the way Go's os.UserCacheDir does: from $XDG_CACHE_HOME
// or $HOME on Linux and the BSDs, $HOME on macOS, %LocalAppData% on
// Windows. A system service started by systemd without User= (the
// agent's unit) or by launchd gets no $HOME, so restic found no cache:
// it printed "unable to open cache" and read the index and every tree of
// the parent snapshot from the repository again on every run — over the
// network for a remote one. The runner then points RESTIC_CACHE_DIR at
// the directory restic would use for the agent's user had $HOME been set
// (/root/.cache/restic for root on Linux), the same cache a `restic` run
// by that user from a shell keeps warm. An environment that already
// names a cache directory is left alone.

// withCacheDir returns env with RESTIC_CACHE_DIR added when restic would
// find no cache directory in it; home gives the agent user's home
// directory.
func withCacheDir(env []string, home func() (string, error)) []string {
	if dir, ok := fallbackCacheDir(env, runtime.GOOS, home); ok {
		return append(env, "RESTIC_CACHE_DIR="+dir)
	}
	return env
}

// fallbackCacheDir is the cache directory restic should be given on goos,
// and false when env already leads restic to one (or no home is known,
// when restic runs without a cache as it would anyway).
func fallbackCacheDir(env []string, goos string, home func() (string, error)) (string, bool) {
	if getenv(env, goos, "RESTIC_CACHE_DIR") != "" {
		return "", false
	}
	var sub []string
	switch goos {
	case "windows":
		if getenv(env, goos, "LocalAppData") != "" {
			return "", false
		}
		sub = []string{"AppData", "Local"}
	case "darwin", "ios":
		if getenv(env, goos, "HOME") != "" {
			return "", false
		}
		sub = []string{"Library", "Caches"}
	case "plan9":
		return "", false // $home is always set there
	default:
		if getenv(env, goos, "XDG_CACHE_HOME") != "" || getenv(env, goos, "HOME") != "" {
			return "", false
		}
		sub = []string{".cache"}
	}
	dir, err := home()
	if err != nil || dir == "" {
		return "", false
	}
	return filepath.Join(append(append([]string{dir}, sub...), "restic")...), true
}

// getenv is the value of name in env as the child process sees it: the
// last one wins, and Windows ignores the case of names.
func getenv(env []string, goos, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		k, v, _ := strings.Cut(env[i], "=")
		if k == name || goos == "windows" && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// userHome is the home directory of the user the agent runs as, from the
// user database (not $HOME, which is what is missing).
func userHome() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return u.HomeDir, nil
}
