//go:build windows

package restic

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// Windows has no signals for a child process; a console program like restic
// gets console control events instead, and Go maps CTRL_BREAK_EVENT to
// os.Interrupt, which restic handles as it handles SIGINT on Unix (it stops
// and removes its lock). An event can only be sent to a process group on
// the sender's own console, so restic is started in a group of its own (the
// event reaches restic and nothing else, never the agent) and the event
// goes through restic's console:
//
//   - the agent in a terminal shares its console with restic: sent as is;
//   - the agent as a service has no console, and Windows gave restic one of
//     its own: the agent attaches to it for the call, then detaches.
//
// When neither works, askToStop fails and the runner kills restic.

var (
	kernel32                     = syscall.NewLazyDLL("kernel32.dll")
	procGenerateConsoleCtrlEvent = kernel32.NewProc("GenerateConsoleCtrlEvent")
	procAttachConsole            = kernel32.NewProc("AttachConsole")
	procFreeConsole              = kernel32.NewProc("FreeConsole")
)

// ctrlBreakEvent is CTRL_BREAK_EVENT (wincon.h). CTRL_C_EVENT cannot be
// sent to a process group other than the caller's.
const ctrlBreakEvent = 1

// consoleMu serialises attaching: a process has at most one console, and
// AttachConsole changes it for the whole agent.
var consoleMu sync.Mutex

// ownProcessGroup starts restic as the leader of a new process group, whose
// id is restic's pid.
func ownProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= syscall.CREATE_NEW_PROCESS_GROUP
}

// askToStop sends restic's process group CTRL_BREAK_EVENT.
func askToStop(p *os.Process) error {
	consoleMu.Lock()
	defer consoleMu.Unlock()
	group := uintptr(p.Pid)
	if ok, _, _ := procGenerateConsoleCtrlEvent.Call(ctrlBreakEvent, group); ok != 0 {
		return nil
	}
	if ok, _, err := procAttachConsole.Call(group); ok == 0 {
		return fmt.Errorf("no console to send restic CTRL_BREAK through (attach: %w)", err)
	}
	defer procFreeConsole.Call()
	if ok, _, err := procGenerateConsoleCtrlEvent.Call(ctrlBreakEvent, group); ok == 0 {
		return fmt.Errorf("send restic CTRL_BREAK: %w", err)
	}
	return nil
}
