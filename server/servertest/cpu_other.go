//go:build !unix

package servertest

import "time"

// ProcessCPU is 0 where getrusage(2) is not there (Windows): the
// benchmarks that report it run on Linux.
func ProcessCPU() time.Duration { return 0 }
