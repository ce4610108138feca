//go:build !linux

package restic

import "os/exec"

// guardChild does nothing here: only Linux can have the kernel kill a
// child when its parent dies (Pdeathsig). If the agent is killed, restic
// runs on to its end; a lock it leaves when killed some other way is
// removed by the `restic unlock` the agent runs before the next job.
func guardChild(*exec.Cmd) (release func()) { return func() {} }
