package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"

	"github.com/restic-manager/restic-manager/agent/restic"
)

// Service identity in the OS service manager (systemd, Windows SCM, launchd).
const (
	ServiceName        = "restic-manager-agent"
	ServiceDisplayName = "restic-manager agent"
	ServiceDescription = "Runs restic backups for restic-manager and reports them to the server."
)

// ServiceActions are the verbs ControlService understands.
var ServiceActions = []string{"install", "uninstall", "start", "stop", "status"}

// serviceConfig describes the service that runs `run --config <abs path>`.
func serviceConfig(configPath string) (*service.Config, error) {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return nil, fmt.Errorf("service: resolve %s: %w", configPath, err)
	}
	return &service.Config{
		Name:        ServiceName,
		DisplayName: ServiceDisplayName,
		Description: ServiceDescription,
		Arguments:   []string{"run", "--config", abs},
		// The agent needs the network to reach the server, but retries on
		// its own, so "wants" is enough; the manager restarts it on failure.
		Dependencies: dependencies(),
		Option: service.KeyValue{
			"Restart":              "on-failure", // systemd
			"OnFailure":            "restart",    // Windows SCM
			"DelayedAutoStart":     true,         // Windows: after the network is up
			"KeepAlive":            true,         // launchd
			"RunAtLoad":            true,         // launchd
			"OnFailureResetPeriod": 60,
		},
	}, nil
}

func dependencies() []string {
	if runtime.GOOS == "linux" {
		return []string{"After=network-online.target", "Wants=network-online.target"}
	}
	return nil
}

// ControlService performs one of ServiceActions for the agent service that
// runs with configPath and returns a one-line report for the operator.
// install checks the config first, so a broken one is found now and not by
// a service that fails at every start.
func ControlService(action, configPath string) (string, error) {
	if !slices.Contains(ServiceActions, action) {
		return "", fmt.Errorf("service: unknown action %q: use one of %s", action, strings.Join(ServiceActions, ", "))
	}
	cfg, err := serviceConfig(configPath)
	if err != nil {
		return "", err
	}
	if action == "install" {
		if _, err := LoadConfig(cfg.Arguments[2]); err != nil {
			return "", fmt.Errorf("service install: %w", err)
		}
	}
	svc, err := service.New(noopProgram{}, cfg)
	if err != nil {
		return "", fmt.Errorf("service: %w", err)
	}
	switch action {
	case "status":
		st, err := svc.Status()
		switch {
		case errors.Is(err, service.ErrNotInstalled):
			return ServiceName + ": not installed", nil
		case err != nil:
			return "", fmt.Errorf("service status: the %s service manager could not tell (%w): is the service installed (restic-manager-agent install)?", service.Platform(), err)
		case st == service.StatusRunning:
			return ServiceName + ": running", nil
		case st == service.StatusStopped:
			return ServiceName + ": stopped", nil
		default:
			return ServiceName + ": unknown state", nil
		}
	default: // install, uninstall, start, stop
		if err := service.Control(svc, action); err != nil {
			return "", fmt.Errorf("service %s: %w (are you root / Administrator?)", action, err)
		}
		if action == "install" {
			return fmt.Sprintf("installed %s (runs: run --config %s on %s); start it with: restic-manager-agent start --config %s",
				ServiceName, cfg.Arguments[2], service.Platform(), configPath), nil
		}
		return fmt.Sprintf("%s: %s", ServiceName, pastTense[action]), nil
	}
}

var pastTense = map[string]string{"uninstall": "uninstalled", "start": "started", "stop": "stopped"}

// noopProgram satisfies service.Interface for the control verbs, which never
// run the program.
type noopProgram struct{}

// Start implements service.Interface; it is never called for control verbs.
func (noopProgram) Start(service.Service) error { return nil }

// Stop implements service.Interface; it is never called for control verbs.
func (noopProgram) Stop(service.Service) error { return nil }

// RunService runs body until the process is asked to stop. In a terminal, or
// under systemd or launchd (which stop a service with SIGTERM), ctx is
// cancelled by SIGINT or SIGTERM. Under the Windows service manager, which
// stops a service through its control API instead, it runs body through
// kardianos/service; if body fails on its own there the process exits with
// status 1 so the service manager's restart-on-failure applies. There the
// service's start and stop, and the warnings and errors of a logger built
// on SystemLogHandler, go to the Event Log.
func RunService(configPath string, logger *slog.Logger, body func(ctx context.Context) error) error {
	if runtime.GOOS != "windows" || service.Interactive() {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return body(ctx)
	}
	cfg, err := serviceConfig(configPath)
	if err != nil {
		return err
	}
	p := &windowsProgram{body: body, log: logger}
	svc, err := service.New(p, cfg)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if events, err := svc.SystemLogger(nil); err != nil {
		logger.Warn("the Event Log is not available; service messages go nowhere else", "err", err)
	} else {
		p.events = events
		attachSystemLog(logger.Handler(), events)
	}
	return svc.Run()
}

// serviceStopWait bounds how long a stop request waits for body: longer
// than restic's cancel grace, so that a running restic has stopped (asked
// first, killed when the grace ran out) and its job is recorded before the
// service reports stopped; restic would otherwise run on, unsupervised.
const serviceStopWait = restic.DefaultCancelGrace + 15*time.Second

// windowsProgram adapts body to the Windows service manager, which calls
// Start, then Stop on a stop request or at shutdown.
type windowsProgram struct {
	body   func(context.Context) error
	log    *slog.Logger
	events service.Logger // the Event Log; nil where there is none
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
}

// event writes a lifecycle line to the Event Log, if there is one.
func (p *windowsProgram) event(msg string) {
	if p.events != nil {
		_ = p.events.Info(msg)
	}
}

// Start runs body in the background; the service manager needs Start to
// return promptly.
func (p *windowsProgram) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.cancel, p.done = cancel, make(chan struct{})
	p.mu.Unlock()
	p.event(fmt.Sprintf("%s %s started", ServiceName, Version))
	go func() {
		defer close(p.done)
		err := p.body(ctx)
		switch {
		case errors.Is(err, ErrRestart):
			// An upgrade or a rollback put another binary in place (#11):
			// ending without reporting "stopped" makes the SCM's recovery
			// start it.
			p.log.Info("exiting so that the service manager starts the agent binary now in place")
			os.Exit(1)
		case err != nil && ctx.Err() == nil:
			p.log.Error("agent failed; exiting so the service manager restarts it", "err", err)
			os.Exit(1)
		}
	}()
	return nil
}

// Stop cancels body, which stops a running restic gracefully and records
// its job as interrupted, and waits (up to serviceStopWait) for body to
// disconnect and return.
func (p *windowsProgram) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	p.event(ServiceName + " stopping: a running backup is stopped and reported interrupted")
	cancel()
	select {
	case <-done:
		p.event(ServiceName + " stopped")
	case <-time.After(serviceStopWait):
		p.log.Warn("agent did not stop in time; exiting anyway", "waited", serviceStopWait)
	}
	return nil
}
