package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The executable swap of an upgrade. Everything happens in the directory of
// the running executable, so every rename stays on one file system:
//
//	<exe>.new       the verified download, fsync'd, mode 0755
//	<exe>.previous  the binary that ran before the swap
//
// On Unix the swap is atomic: the running binary gets a second name
// (<exe>.previous, a hard link) and the new one is renamed over <exe>, so
// <exe> is always a complete binary. Windows cannot overwrite a running
// executable but can rename it, so there it is a rename dance: <exe> →
// <exe>.previous, then <exe>.new → <exe>, undoing the first if the second
// fails. The directory is fsync'd after each step that matters.

// preflightTimeout bounds `<new binary> version`.
const preflightTimeout = 30 * time.Second

// currentExecutable is the path of the running binary, symlinks resolved
// (the file that a swap replaces).
func currentExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the running executable: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe, nil
}

// stageBinary copies the verified download src to <exe>.new (mode 0755),
// fsync'd, and returns its path.
func stageBinary(src, exe string) (string, error) {
	dst := exe + ".new"
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", fmt.Errorf("write the new binary next to %s: %w", exe, err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	syncDir(filepath.Dir(dst))
	return dst, nil
}

// preflight runs `<path> version` and checks it says version want: a binary
// that cannot run here (another platform, a damaged file, one that exits at
// once) is refused before anything is swapped.
func preflight(ctx context.Context, path, want string) error {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = childEnv()
	err := cmd.Run()
	got := strings.TrimSpace(out.String())
	if len(got) > 200 {
		got = got[:200]
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("the new binary did not answer `version` within %s", preflightTimeout)
	case err != nil:
		return fmt.Errorf("the new binary does not run on this machine (`version`: %v; output %q)", err, got)
	case got != "restic-manager-agent "+want:
		return fmt.Errorf("the new binary says %q, not version %s", got, want)
	}
	return nil
}

// swapBinary puts staged in place of exe and keeps exe as <exe>.previous.
func swapBinary(staged, exe string) (previous string, err error) {
	previous = exe + ".previous"
	dir := filepath.Dir(exe)
	if err := os.Remove(previous); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("remove the old %s: %w", previous, err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Link(exe, previous); err == nil {
			if err := os.Rename(staged, exe); err != nil {
				os.Remove(previous)
				return "", fmt.Errorf("put the new binary in place: %w", err)
			}
			syncDir(dir)
			return previous, nil
		}
		// No hard links on this file system: the rename dance below.
	}
	if err := os.Rename(exe, previous); err != nil {
		return "", fmt.Errorf("move the running binary aside: %w", err)
	}
	if err := os.Rename(staged, exe); err != nil {
		if uerr := os.Rename(previous, exe); uerr != nil {
			return "", fmt.Errorf("put the new binary in place: %w; and putting the old one back failed: %v", err, uerr)
		}
		return "", fmt.Errorf("put the new binary in place: %w", err)
	}
	syncDir(dir)
	return previous, nil
}

// restoreBinary puts previous back at exe (the running, failed binary is
// replaced; on Windows it is renamed to <exe>.failed first, as a running
// executable cannot be overwritten there).
func restoreBinary(exe, previous string) error {
	if _, err := os.Stat(previous); err != nil {
		return fmt.Errorf("the previous binary: %w", err)
	}
	dir := filepath.Dir(exe)
	if runtime.GOOS == "windows" {
		failed := exe + ".failed"
		os.Remove(failed)
		if err := os.Rename(exe, failed); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("move the failed binary aside: %w", err)
		}
	}
	if err := os.Rename(previous, exe); err != nil {
		return fmt.Errorf("put the previous binary back: %w", err)
	}
	syncDir(dir)
	return nil
}
