package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic-manager/restic-manager/agent/outbox"
	"github.com/restic-manager/restic-manager/topics"
)

// Agent is the long-running agent process: it keeps one MQTT connection to
// the server's broker, announces itself with hello on every connect, sends
// heartbeats, receives what the server sends to rm/v1/hosts/{h}/down/#,
// applies the desired config, and runs jobs with restic, reporting them
// through the durable outbox.
type Agent struct {
	cfg       *Config
	log       *slog.Logger
	broker    *url.URL
	ca        *x509.Certificate // nil for plain TCP
	gens      *connGenCounter
	bootID    string
	started   time.Time
	heartbeat time.Duration
	backoff   *backoff

	// tlsSessions keeps the broker's TLS session tickets across this
	// process's reconnects (dial.go).
	tlsSessions tls.ClientSessionCache
	// refusedRetry is the wait after the broker refused our credentials.
	refusedRetry time.Duration

	// resticEnv is added to the environment restic runs with.
	resticEnv []string
	// resendAfter is how long an outbox entry may stay unacknowledged on
	// one connection before it is published again.
	resendAfter time.Duration
	outboxOpts  outbox.Options
	// clock is the scheduler's "now" (time.Now but in tests).
	clock func() time.Time

	connected atomic.Bool
	connGen   atomic.Uint64

	// #11: the probation of this binary after an upgrade (nil: none) and
	// the upgrader of this Run.
	upgradeGuard *UpgradeGuard
	upgrades     *upgrader

	// #14: the server's queries running now (query.go).
	queries queryRunner

	// The job state, opened by Run (see state.go).
	*jobState
}

// Option changes how New builds an Agent; the defaults suit production.
type Option func(*Agent)

// WithBackoff sets the reconnect backoff (first delay, cap), overriding the
// config's reconnect_backoff_max. Tests use milliseconds so reconnects
// happen quickly.
func WithBackoff(initial, max time.Duration) Option {
	return func(a *Agent) { a.backoff = newBackoff(initial, max) }
}

// WithRefusedRetry sets how long to wait after the broker refused this
// host's credentials (default DefaultRefusedRetry).
func WithRefusedRetry(d time.Duration) Option {
	return func(a *Agent) {
		if d > 0 {
			a.refusedRetry = d
		}
	}
}

// WithResticEnv adds environment variables (NAME=value) to restic's
// environment, e.g. RESTIC_CACHE_DIR. Never a secret of a repository: those
// come with the desired config.
func WithResticEnv(env ...string) Option {
	return func(a *Agent) { a.resticEnv = append(a.resticEnv, env...) }
}

// New validates cfg, opens the state directory and returns an Agent ready
// to Run. It does not touch the network.
func New(cfg *Config, logger *slog.Logger, opts ...Option) (*Agent, error) {
	if cfg == nil {
		return nil, errors.New("agent: no config")
	}
	if logger == nil {
		logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	u, err := cfg.BrokerURL()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	var ca *x509.Certificate
	if cfg.CACert != "" {
		if ca, err = ParseCACert([]byte(cfg.CACert)); err != nil {
			return nil, fmt.Errorf("agent: ca_cert: %w", err)
		}
	}
	gens, err := openConnGen(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{
		cfg:       cfg,
		log:       logger,
		broker:    u,
		ca:        ca,
		gens:      gens,
		bootID:    topics.NewMessageID(),
		started:   time.Now(),
		heartbeat: cfg.HeartbeatInterval,
		backoff:   newBackoff(DefaultBackoffInitial, cfg.reconnectBackoffMax()),

		tlsSessions:  newTLSSessionCache(),
		refusedRetry: DefaultRefusedRetry,
		resendAfter:  DefaultResendAfter,
		clock:        time.Now,
	}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Connected reports whether the agent has a working connection right now:
// connected, subscribed, and its hello acknowledged by the broker.
func (a *Agent) Connected() bool { return a.connected.Load() }

// ConnGen returns the generation of the current (or last) connection
// attempt; 0 before the first.
func (a *Agent) ConnGen() uint64 { return a.connGen.Load() }

// BootID returns the random id of this agent process, as sent in hello and
// status.
func (a *Agent) BootID() string { return a.bootID }

// Run opens the job state in state_dir (journal, outbox, applied config),
// reports what a previous run left unfinished, connects and stays
// connected, reconnecting with backoff, and runs jobs, until ctx is done.
// Then it stops restic gracefully (a job running then is reported
// interrupted), disconnects cleanly (so the broker drops the Last Will),
// publishes nothing more, closes the state and returns nil. It returns an
// error only for problems a retry cannot fix, such as an unwritable or
// damaged state directory. Run is called once per Agent.
func (a *Agent) Run(ctx context.Context) error {
	ctx, restart := context.WithCancelCause(ctx)
	defer restart(nil)
	if a.broker.Scheme == "mqtt" || a.broker.Scheme == "tcp" {
		a.log.Warn("mqtt_url is not TLS: the MQTT password and all traffic travel unencrypted", "broker", a.broker.String())
	}
	resticVersion, err := ResticVersion(ctx, a.cfg.ResticBinary)
	if err != nil {
		a.log.Warn("restic is not usable; reporting an empty restic version", "err", err)
	}
	if err := a.openJobState(ctx, resticVersion); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer a.closeJobState()
	a.log.Info("agent starting", "version", Version, "host_id", a.cfg.HostID, "broker", a.broker.String(),
		"restic_version", resticVersion, "boot_id", a.bootID, "config_version", a.desired.version(),
		"outbox_pending", a.outbox.Stats().Pending)

	// The workers stop when Run returns: the job worker first lets a
	// running restic stop gracefully and records the job.
	workCtx, stopWork := context.WithCancel(ctx)
	var workers sync.WaitGroup
	defer func() {
		stopWork()
		workers.Wait()
		a.queries.wg.Wait()  // #14: a query's restic stops with Run's context
		a.upgrades.wg.Wait() // an upgrade in progress gives up (or restarts) before the state closes
	}()
	a.startUpgrader(ctx, restart)
	workers.Go(func() { a.sender.run(workCtx) })
	workers.Go(func() { a.jobs.work(workCtx) })
	workers.Go(func() { a.dispatch(workCtx) })
	workers.Go(func() { a.sched.run(workCtx) })
	if err := a.connectLoop(ctx, resticVersion); err != nil {
		return err
	}
	if errors.Is(context.Cause(ctx), ErrRestart) {
		return ErrRestart // an upgrade stopped the agent: the caller restarts it
	}
	return nil
}

// connectLoop keeps one session at a time until ctx is done.
func (a *Agent) connectLoop(ctx context.Context, resticVersion string) error {
	for {
		gen, err := a.gens.Next()
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		a.connGen.Store(gen)
		s := &session{agent: a, gen: gen, resticVersion: resticVersion}
		err = s.run(ctx)
		a.connected.Store(false)
		if ctx.Err() != nil {
			a.log.Info("agent stopped", "conn_gen", gen)
			return nil
		}
		if s.established {
			a.backoff.Reset()
		}
		delay := a.retryDelay(err)
		a.log.Warn(s.failureVerb(), "broker", a.broker.String(), "conn_gen", gen, "reason", err,
			"retry_in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			a.log.Info("agent stopped", "conn_gen", gen)
			return nil
		case <-time.After(delay):
		}
	}
}

// uptime is how long this agent has run, for status messages.
func (a *Agent) uptime() int64 { return int64(time.Since(a.started) / time.Second) }
