package install

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

// checkPS1 runs the CI's install.ps1 check (.ci/check-install-ps1: the
// tree-sitter PowerShell parser from npm) on script and returns its output
// and whether it passed.
func checkPS1(t *testing.T, script string) (string, bool) {
	t.Helper()
	agenttest.RequireBinary(t, "node")
	agenttest.RequireBinary(t, "npm")
	path := filepath.Join(t.TempDir(), "install.ps1")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join("..", ".ci", "check-install-ps1"), path).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run the check: %v\n%s", err, out)
	}
	if err != nil && exit.ExitCode() != 1 {
		t.Fatalf("the check itself failed (exit %d), not the script:\n%s", exit.ExitCode(), out)
	}
	return string(out), err == nil
}

// installPS1 is the script as the server embeds and serves it.
func installPS1(t *testing.T) string {
	t.Helper()
	body, err := Scripts.ReadFile("install.ps1")
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestInstallPS1Parses(t *testing.T) {
	if out, ok := checkPS1(t, installPS1(t)); !ok {
		t.Fatalf("install.ps1 does not pass its check:\n%s", out)
	}
}

// A copy with one brace left open fails the check, which names the place.
func TestInstallPS1CheckFindsAnUnbalancedBrace(t *testing.T) {
	good := installPS1(t)
	const fn = "function Write-Step([string]$Message) {\n"
	if !strings.Contains(good, fn) {
		t.Fatalf("install.ps1 has no %q to break", fn)
	}
	broken := strings.Replace(good, fn, strings.TrimSuffix(fn, "\n")+" {\n", 1)
	out, ok := checkPS1(t, broken)
	if ok || !strings.Contains(out, "install.ps1:") || !strings.Contains(out, "syntax error") {
		t.Fatalf("a script with an unbalanced brace passed or was not reported (ok=%v):\n%s", ok, out)
	}
}

// The script lists scheduled tasks and must never change them: a call in
// the code fails the check, a mention in a comment does not.
func TestInstallPS1CheckRefusesChangingScheduledTasks(t *testing.T) {
	good := installPS1(t)
	for _, call := range []string{
		"Get-ScheduledTask | Where-Object TaskName -like '*restic*' | Disable-ScheduledTask",
		"Unregister-ScheduledTask -TaskName restic-backup -Confirm:$false",
		"& schtasks.exe /Change /TN restic-backup /DISABLE",
	} {
		out, ok := checkPS1(t, good+"\n"+call+"\n")
		if ok || !strings.Contains(out, "scheduled task") {
			t.Errorf("%q passed the check (ok=%v):\n%s", call, ok, out)
		}
	}
	if out, ok := checkPS1(t, good+"\n# never Disable-ScheduledTask here\n"); !ok {
		t.Errorf("a comment naming Disable-ScheduledTask failed the check:\n%s", out)
	}
}
