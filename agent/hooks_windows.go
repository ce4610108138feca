//go:build windows

package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// hookCommand writes body to a .cmd file in the agent's state directory
// (readable by the service user only, like the rest of the state) and runs
// it with cmd.exe /C in a new process group; cmd.exe /C alone would run
// only a body's first line. cleanup removes the file.
func hookCommand(ctx context.Context, body, stateDir string) (*exec.Cmd, func(), error) {
	dir := filepath.Join(stateDir, "hooks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", dir, err)
	}
	var name [8]byte
	_, _ = rand.Read(name[:])
	path := filepath.Join(dir, "hook-"+hex.EncodeToString(name[:])+".cmd")
	if err := os.WriteFile(path, []byte("@echo off\r\n"+body+"\r\n"), 0o600); err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", path, err)
	}
	cmd := exec.CommandContext(ctx, "cmd.exe")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CmdLine:       `cmd.exe /D /C "` + path + `"`,
		CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP,
	}
	return cmd, func() { _ = os.Remove(path) }, nil
}

// killHookGroup ends the hook's whole process tree (taskkill /T /F): a
// Windows process group does not take a kill signal.
func killHookGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	kill := exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(cmd.Process.Pid))
	if err := kill.Run(); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}
