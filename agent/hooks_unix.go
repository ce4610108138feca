//go:build !windows

package agent

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

// hookCommand runs body with /bin/sh -c in a new process group (its
// process group id is the shell's pid), so that killHookGroup reaches the
// shell and everything it started. Nothing is written to disk.
func hookCommand(ctx context.Context, body, _ string) (*exec.Cmd, func(), error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", body)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, func() {}, nil
}

// killHookGroup sends SIGKILL to the hook's whole process group.
func killHookGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
