package servertest

import (
	"time"

	"github.com/restic-manager/restic-manager/broker/brokertest"
)

// ProcessCPU is the CPU time (user and system) the test process has used
// so far: benchmarks on a shared machine report it beside wall time,
// which other processes' load inflates (brokertest.ProcessCPU).
func ProcessCPU() time.Duration { return brokertest.ProcessCPU() }
