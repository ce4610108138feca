//go:build !windows

package agent

import (
	"slices"
	"testing"
)

// TestHookBaseEnv (#10): a hook inherits only the allow-listed variables
// of the agent's environment, never a secret, and always has a PATH.
func TestHookBaseEnv(t *testing.T) {
	got := hookBaseEnv([]string{"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "LANG=C.UTF-8", "RESTIC_PASSWORD=pw",
		"AWS_SECRET_ACCESS_KEY=k", "RESTIC_REPOSITORY=/r", "NOTIFY_SOCKET=/run/x", "path=/lower", "BROKEN"})
	want := []string{"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "LANG=C.UTF-8"}
	if !slices.Equal(got, want) {
		t.Fatalf("hook env %v, want %v", got, want)
	}
	if env := hookBaseEnv([]string{"HOME=/root"}); !slices.Contains(env, "PATH="+defaultHookPath) {
		t.Fatalf("without PATH: %v", env)
	}
}
