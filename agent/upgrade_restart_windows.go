//go:build windows

package agent

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/kardianos/service"
)

// restartProcess starts exe with the same arguments, output and
// environment; a service instead leaves it to the SCM (see
// RestartAfterUpgrade).
func restartProcess(exe string, args []string) error {
	if !service.Interactive() {
		return fmt.Errorf("%w: the service manager starts the binary now in place", ErrRestart)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restart %s: %w", exe, err)
	}
	return nil
}
