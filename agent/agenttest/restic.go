package agenttest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

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
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		tb.Fatal(err)
	}
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
