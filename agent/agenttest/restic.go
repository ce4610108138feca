package agenttest

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WriteExecutable writes a script (or any program) to path with mode 0755
// so that the test process can run it at once. It holds syscall.ForkLock
// while the file is open for writing: a test running beside it (t.Parallel)
// that starts a process in that moment would otherwise hand its child an
// inherited descriptor open for writing the new file, and running the file
// before that child execs fails with "text file busy" (ETXTBSY; Go issue
// 22315).
func WriteExecutable(tb testing.TB, path, content string) {
	tb.Helper()
	syscall.ForkLock.Lock()
	err := os.WriteFile(path, []byte(content), 0o755)
	syscall.ForkLock.Unlock()
	if err != nil {
		tb.Fatal(err)
	}
}

// CountingRestic writes a shell script that records the subcommand of
// every call (its first argument) and then runs the real restic at path
// with the same arguments, environment and streams. It returns the
// script's path, for restic_binary, and a function listing the recorded
// subcommands in call order. Tests use it to prove "restic ran once" (or
// never) with the real restic doing the work. Unix only; it skips
// elsewhere.
func CountingRestic(tb testing.TB, path string) (script string, calls func() []string) {
	tb.Helper()
	if runtime.GOOS == "windows" {
		tb.Skip("the counting restic is a shell script")
	}
	dir := tb.TempDir()
	log := filepath.Join(dir, "calls")
	script = filepath.Join(dir, "restic")
	body := "#!/bin/sh\nprintf '%s\\n' \"$1\" >> " + shellQuote(log) + "\nexec " + shellQuote(path) + " \"$@\"\n"
	WriteExecutable(tb, script, body)
	return script, func() []string {
		data, err := os.ReadFile(log)
		if err != nil {
			return nil
		}
		return strings.Fields(string(data))
	}
}

// Count returns how many of calls are subcommand name.
func Count(calls []string, name string) int {
	n := 0
	for _, c := range calls {
		if c == name {
			n++
		}
	}
	return n
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ResticCall is one run of restic through RecordingRestic: its argv
// (without the program name) and when it started and ended.
type ResticCall struct {
	Args       []string
	Start, End time.Time
}

// RecordingRestic writes a shell script that runs the real restic at path
// and then records the call's argv with its start and end times. Tests use
// it to check the command line restic got (bandwidth flags) and that two
// restic runs never overlap. Unix with GNU date only; it skips elsewhere.
// Unlike CountingRestic the script does not exec restic, so do not use it
// where the agent signals restic (cancel, stop mid-job).
func RecordingRestic(tb testing.TB, path string) (script string, calls func() []ResticCall) {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skip("the recording restic is a shell script using GNU date")
	}
	dir := tb.TempDir()
	log := filepath.Join(dir, "calls")
	script = filepath.Join(dir, "restic")
	body := "#!/bin/sh\nstart=$(date +%s.%N)\n" + shellQuote(path) + " \"$@\"\nrc=$?\n" +
		"printf '%s %s %s\\n' \"$start\" \"$(date +%s.%N)\" \"$*\" >> " + shellQuote(log) + "\nexit $rc\n"
	WriteExecutable(tb, script, body)
	return script, func() []ResticCall {
		data, _ := os.ReadFile(log)
		var out []ResticCall
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			out = append(out, ResticCall{Args: f[2:], Start: unixDecimal(f[0]), End: unixDecimal(f[1])})
		}
		return out
	}
}

// unixDecimal reads "seconds.nanoseconds" as date +%s.%N prints it.
func unixDecimal(s string) time.Time {
	sec, frac, _ := strings.Cut(s, ".")
	secs, _ := strconv.ParseInt(sec, 10, 64)
	nanos, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	return time.Unix(secs, nanos)
}
