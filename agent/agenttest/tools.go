package agenttest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// DisallowSkipEnv, set to 1, makes a test that cannot run here (a tool is
// missing, it needs root) fail instead of skip; CI sets it so a missing
// tool cannot silently turn tests off. Any other value, or none, skips.
const DisallowSkipEnv = "RM_TEST_DISALLOW_SKIP"

// RequireBinary returns the path of the first of names that is installed
// (several names are alternatives: "chromium", "chromium-browser"), or
// ends the test with Unavailable when none is.
func RequireBinary(tb testing.TB, names ...string) string {
	tb.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if len(names) == 1 {
		Unavailable(tb, "%s is not installed", names[0])
	} else {
		Unavailable(tb, "none of %v is installed", names)
	}
	return ""
}

// Unavailable ends a test that cannot run on this machine, saying why:
// it skips, or fails when DisallowSkipEnv is 1. Every test of the module
// that needs something the machine may lack ends through here.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	why := fmt.Sprintf(format, args...)
	if os.Getenv(DisallowSkipEnv) == "1" {
		tb.Fatalf("%s; %s=1 forbids skipping", why, DisallowSkipEnv)
	}
	tb.Skip(why)
}
