package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/kardianos/service"
)

// NewServiceProgram is the program the Windows service manager drives
// (Start, then Stop on a stop request or at shutdown), for tests on any OS.
func NewServiceProgram(body func(context.Context) error, log *slog.Logger, events service.Logger) service.Interface {
	return &windowsProgram{body: body, log: log, events: events}
}

// ServiceStopWait is how long the service's Stop waits for the agent.
const ServiceStopWait time.Duration = serviceStopWait
