//go:build unix

package brokertest

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time (user and system) the test process has used
// so far: benchmarks on a shared machine report it beside wall time,
// which other processes' load inflates.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
