//go:build !unix && !windows

package brokertest

import "time"

// ProcessCPU is 0 where the platform gives no process CPU time here: the
// benchmarks that report it run on Linux.
func ProcessCPU() time.Duration { return 0 }
