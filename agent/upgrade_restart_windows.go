//go:build windows

package agent

import (
	"fmt"
	"os"
	"os/exec"
)

// restartProcess starts exe with the same arguments, output and
// environment; Windows has no exec, so the caller exits after it.
func restartProcess(exe string, args []string) error {
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restart %s: %w", exe, err)
	}
	return nil
}
