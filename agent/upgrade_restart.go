package agent

import (
	"fmt"
	"log/slog"

	"github.com/kardianos/service"
)

// Executable is the path of the running agent binary, symlinks resolved.
// Call it at start, before an upgrade can rename the file: it is the path
// RestartAfterUpgrade starts again.
func Executable() (string, error) { return currentExecutable() }

// RestartAfterUpgrade starts exe (the agent binary's path, as Executable
// said at start) again with the same arguments, after Run or GuardUpgrade
// returned ErrRestart. Under a service manager (systemd, launchd, Windows
// SCM) it returns an error: the process must exit with a non-zero status,
// and the manager's restart-on-failure starts the binary now in place
// (`install` registers the service that way). Otherwise (a terminal, a
// test, a container) it replaces this process with exe on Unix, keeping
// its pid, or starts exe and returns nil on Windows, where the caller then
// exits.
func RestartAfterUpgrade(exe string, args []string, log *slog.Logger) error {
	if !service.Interactive() {
		log.Info("exiting so that the service manager starts the agent binary now in place")
		return fmt.Errorf("%w: the service manager restarts it", ErrRestart)
	}
	log.Info("restarting", "exe", exe)
	return restartProcess(exe, args)
}
