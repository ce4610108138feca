package agenttest

import (
	"bufio"
	"io"
	"os/exec"
	"testing"
	"time"
)

// DirectBackup runs `restic backup --json -- paths...` with env, not
// through the agent, reading its output through pipes line by line as the
// agent does, and returns restic's wall time and its CPU time (user plus
// system, its rusage). Benchmarks compare the agent's backups with it.
func DirectBackup(tb testing.TB, restic string, env []string, paths ...string) (wall, cpu time.Duration) {
	tb.Helper()
	cmd := exec.Command(restic, append([]string{"backup", "--json", "--"}, paths...)...)
	cmd.Env = env
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		tb.Fatalf("restic backup: %v", err)
	}
	return time.Since(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}
