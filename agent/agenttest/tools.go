package agenttest

import (
	"os"
	"os/exec"
	"testing"
)

// DisallowSkipEnv, set to 1, makes RequireBinary fail instead of skip; CI
// sets it so a missing tool cannot silently turn tests off.
const DisallowSkipEnv = "RM_TEST_DISALLOW_SKIP"

// RequireBinary returns the path of the named program, or skips the test
// when it is not installed (fails it when DisallowSkipEnv is 1).
func RequireBinary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(DisallowSkipEnv) == "1" {
		tb.Fatalf("%s is required but not installed (%v); %s=1 forbids skipping", name, err, DisallowSkipEnv)
	}
	tb.Skipf("%s not installed: %v", name, err)
	return ""
}
