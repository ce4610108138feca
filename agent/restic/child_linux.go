//go:build linux

package restic

import (
	"os/exec"
	"runtime"
	"syscall"
)

// guardChild makes the kernel kill restic (SIGKILL) when the agent dies,
// however it dies (SIGKILL, the OOM killer, a crash): without it restic
// would go on running unsupervised, reporting to nobody. The lock such a
// killed restic leaves is stale; the agent reports the job interrupted
// and runs plain `restic unlock` before the next job (see the stale-lock
// mark in package agent).
//
// Pdeathsig fires when the OS thread that started the child exits, not
// the process. The Go runtime ends a thread only when a goroutine that
// locked it returns without unlocking; so the calling goroutine locks its
// thread from before Start until the returned function runs, after Wait:
// while it holds the lock no other goroutine runs on that thread, and
// this one does not return before restic has ended.
func guardChild(cmd *exec.Cmd) (release func()) {
	runtime.LockOSThread()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return runtime.UnlockOSThread
}
