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
// status 1 so the service manager's restart-on-failure applies.
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
	return svc.Run()
}

// windowsProgram adapts body to the Windows service manager.
type windowsProgram struct {
	body   func(context.Context) error
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
}

// Start runs body in the background; the service manager needs Start to
// return promptly.
func (p *windowsProgram) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.cancel, p.done = cancel, make(chan struct{})
	p.mu.Unlock()
	go func() {
		defer close(p.done)
		if err := p.body(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("agent failed; exiting so the service manager restarts it", "err", err)
			os.Exit(1)
		}
	}()
	return nil
}

// Stop cancels body and waits (bounded) for it to disconnect cleanly.
func (p *windowsProgram) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.log.Warn("agent did not stop within 20s; exiting anyway")
	}
	return nil
}
