package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// resticVersionTimeout bounds `restic version`, which does no I/O beyond
// printing; a binary that hangs is not a restic we can use.
const resticVersionTimeout = 10 * time.Second

// ErrResticNotFound is returned by ResticVersion when the binary is missing.
var ErrResticNotFound = errors.New("restic binary not found")

// ResticVersion runs `<binary> version` and returns the version number it
// prints ("0.18.1"). A missing binary gives ErrResticNotFound; the agent then
// reports an empty version and logs a warning instead of refusing to start,
// so the server can show the host and tell the operator what is missing.
func ResticVersion(ctx context.Context, binary string) (string, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("%w: %q (%v): install restic or set restic_binary in the config", ErrResticNotFound, binary, err)
	}
	ctx, cancel := context.WithTimeout(ctx, resticVersionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Env = childEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("run %s version: %w (output: %s)", path, err, clipText(out.String()))
	}
	v, err := ParseResticVersion(out.String())
	if err != nil {
		return "", fmt.Errorf("%s version: %w", path, err)
	}
	return v, nil
}

// resticVersionRE matches the first line of every restic release's
// `restic version` output we know of:
//
//	restic 0.18.1 compiled with go1.24 on linux/amd64
//	restic 0.16.0-dev (compiled manually) compiled with go1.20.6 on linux/amd64
//	restic 0.9.6 (v0.9.6-0-gc43fc4ad) compiled with go1.13.4 on linux/amd64
//	restic 0.8.3
//	compiled with go1.10 on linux/amd64
var resticVersionRE = regexp.MustCompile(`^restic v?([0-9]+\.[0-9]+(?:\.[0-9]+)?(?:[-+][0-9A-Za-z.+-]{1,64})?)(?:\s|$)`)

// ParseResticVersion extracts the version number from `restic version`
// output. Anything else (a different program, garbage) is an error.
func ParseResticVersion(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := resticVersionRE.FindStringSubmatch(line)
		if m == nil {
			return "", fmt.Errorf("unexpected output %q: is this restic?", clipText(line))
		}
		return m[1], nil
	}
	return "", errors.New("no output: is this restic?")
}

// childEnv is the environment for programs the agent starts: ours minus the
// enrollment token, which must never reach another process.
func childEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnrollTokenEnv+"=") {
			out = append(out, kv)
		}
	}
	return out
}
