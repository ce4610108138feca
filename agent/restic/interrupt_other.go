//go:build !windows

package restic

import (
	"os"
	"os/exec"
)

// ownProcessGroup does nothing here: SIGINT is sent to restic's pid alone.
func ownProcessGroup(*exec.Cmd) {}

// askToStop sends restic SIGINT, on which it cancels its work and removes
// its lock.
func askToStop(p *os.Process) error { return p.Signal(os.Interrupt) }
