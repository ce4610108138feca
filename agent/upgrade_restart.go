package agent

import "log/slog"

// Executable is the path of the running agent binary, symlinks resolved.
// Call it at start, before an upgrade can rename the file: it is the path
// RestartAfterUpgrade starts again.
func Executable() (string, error) { return currentExecutable() }

// RestartAfterUpgrade starts exe (the agent binary's path, as Executable
// said at start) again with the same arguments, after Run or GuardUpgrade
// returned ErrRestart.
//
// On Unix it replaces this process with exe (syscall.Exec: same pid), in a
// terminal and under systemd or launchd alike: the service manager sees
// its main process go on, and is not waited for (the unit kardianos writes
// has RestartSec=120, two minutes offline per upgrade). It returns only on
// failure. On Windows, which has no exec, a service returns an error, so
// the process exits non-zero and the SCM's recovery (restart on failure,
// set by `install`) starts the binary now in place; outside the SCM it
// starts exe and returns nil, and the caller exits.
func RestartAfterUpgrade(exe string, args []string, log *slog.Logger) error {
	log.Info("restarting", "exe", exe)
	return restartProcess(exe, args)
}
