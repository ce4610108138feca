//go:build !windows

package agent

import (
	"fmt"
	"os"
	"syscall"
)

// restartProcess replaces this process with exe (same pid, same
// arguments and environment). It returns only on failure.
func restartProcess(exe string, args []string) error {
	argv := append([]string{exe}, args...)
	if err := syscall.Exec(exe, argv, os.Environ()); err != nil {
		return fmt.Errorf("restart %s: %w", exe, err)
	}
	return nil
}
