package brokertest

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time (user and system) the test process has used
// so far.
func ProcessCPU() time.Duration {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0
	}
	var creation, exit, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return 0
	}
	// Filetime counts 100 ns units; Nanoseconds reads it as a date since
	// 1601, so the two halves are joined by hand.
	ticks := func(f syscall.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration((ticks(kernel) + ticks(user)) * 100)
}
