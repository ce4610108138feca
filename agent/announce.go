package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// ErrRejected is wrapped by the error Announce returns when the server
// rejected this machine: an admin did, or the server will not keep it
// waiting (too many pending machines, nobody accepted it in time). The
// error carries the server's sentence saying which.
var ErrRejected = errors.New("the server rejected this machine")

// AnnounceOptions are the inputs of Announce.
type AnnounceOptions struct {
	// ServerURL is the server's base URL, https://host[:port]. Plain http is
	// accepted only for a loopback address.
	ServerURL string
	// CAFingerprint pins the server's CA ("SHA256:..."), for the bootstrap
	// request and, through the CA it returns, for the broker. Without it the
	// bootstrap request trusts the system roots.
	CAFingerprint string
	// ConfigPath is where the agent config is written on approval (0600).
	ConfigPath string
	// StateDir holds the announce keys and goes into the config;
	// DefaultStateDir() when empty.
	StateDir string
	// ResticBinary goes into the config; "restic" when empty.
	ResticBinary string
	// Force replaces an existing config (its identity is lost).
	Force bool
	// HTTPClient replaces the built-in client for the bootstrap request
	// (which does the TLS pinning); a replacement must verify TLS itself.
	// The returned CA is still checked against CAFingerprint.
	HTTPClient *http.Client
	// Logger receives one line per event; slog.Default() when nil.
	Logger *slog.Logger
	// Banner receives, once, the block that tells a person this machine is
	// waiting and which fingerprint to read out (the CLI passes stdout).
	// When nil the banner is not printed; the log line still has the
	// fingerprint.
	Banner io.Writer
	// BackoffInitial and BackoffMax set the reconnect backoff; zero means
	// DefaultBackoffInitial and DefaultBackoffMax. Tests use milliseconds.
	BackoffInitial, BackoffMax time.Duration
}

// announcer is one run of Announce: what it learned before connecting and
// what it has shown so far.
type announcer struct {
	opts       AnnounceOptions
	log        *slog.Logger
	pin        []byte
	server     *url.URL
	httpClient *http.Client
	boot       *bootstrap
	password   string // this run's pending client password (register)
	// registered: the server has this run's pending client and password,
	// or takes none (an older server); cleared when the broker refuses the
	// pending client, which an expired or deleted registration explains.
	registered    bool
	keys          *AnnounceKeys
	hostname      string
	resticVersion string
	backoff       *backoff
	bannerShown   bool
}

// Announce introduces this machine to the server without a token (DESIGN
// §4.2) and waits until an admin decides:
//
//  1. GET BootstrapPath for the broker's address and CA, pinned like Enroll.
//  2. Load or create the announce keys in the state directory.
//  3. POST BootstrapPath: name this run's pending client and its password,
//     signed by the identity key (announce_register.go); again whenever the
//     broker refuses the pending client.
//  4. Connect to the broker as the pending client of those keys, announce,
//     prove the key on the server's challenge, print the banner once the
//     server says "pending", and wait. A lost connection is retried with
//     backoff and every new connection announces again, so an approval made
//     while the machine was offline is picked up when it is back.
//
// On approval it opens the sealed credentials, writes the config to
// ConfigPath and returns it; the caller then runs the agent with it, in the
// same process. A rejection returns an error wrapping ErrRejected. Nothing
// is written unless the approval passed every check. Announce returns early
// only when ctx is done or for problems a retry cannot fix.
func Announce(ctx context.Context, opts AnnounceOptions) (*Config, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	server, pin, err := checkServer(opts.ServerURL, opts.CAFingerprint, "which would let anyone on the network pose as the server")
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	if err := checkConfigTarget(opts.ConfigPath, opts.Force); err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir()
	}
	if opts.ResticBinary == "" {
		opts.ResticBinary = DefaultResticBinary
	}
	client := opts.HTTPClient
	if client == nil {
		client = serverHTTPClient(server.Hostname(), pin)
	}
	boot, err := fetchBootstrap(ctx, client, server, pin, opts.CAFingerprint)
	if err != nil {
		return nil, err
	}
	keys, created, err := LoadAnnounceKeys(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	password, err := newPendingPassword()
	if err != nil {
		return nil, err
	}
	resticVersion, err := ResticVersion(ctx, opts.ResticBinary)
	if err != nil {
		log.Warn("restic is not usable; announcing anyway, backups will fail until it is installed", "err", err)
	}
	an := &announcer{
		opts: opts, log: log, pin: pin, server: server, httpClient: client, boot: boot, keys: keys, password: password,
		hostname: cmp.Or(hostname(), "unknown"), resticVersion: resticVersion,
		backoff: newBackoff(cmp.Or(opts.BackoffInitial, DefaultBackoffInitial), cmp.Or(opts.BackoffMax, DefaultBackoffMax)),
	}
	log.Info("announcing this machine", "server", server.Redacted(), "broker", boot.broker.Redacted(),
		"client", keys.ClientID(), "fingerprint", keys.Fingerprint(), "new_key", created)
	return an.run(ctx)
}

// run keeps a pending connection until the admin decides or ctx is done.
func (an *announcer) run(ctx context.Context) (*Config, error) {
	for {
		s := &pendingSession{an: an}
		var creds *topics.ApprovedCredentials
		err := an.registerOnce(ctx)
		if err == nil {
			creds, err = s.run(ctx)
		}
		if creds != nil {
			return an.save(creds)
		}
		if ctx.Err() != nil {
			return nil, an.stopped(ctx)
		}
		var final *finalError
		if errors.As(err, &final) {
			return nil, final.err
		}
		if s.established {
			an.backoff.Reset()
		}
		delay := an.backoff.Delay()
		an.log.Warn(s.failureVerb(), "broker", an.boot.broker.Redacted(), "reason", err, "retry_in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil, an.stopped(ctx)
		case <-time.After(delay):
		}
	}
}

// registerOnce registers the pending client unless it is registered.
func (an *announcer) registerOnce(ctx context.Context) error {
	if an.registered {
		return nil
	}
	if err := an.register(ctx); err != nil {
		return err
	}
	an.registered = true
	return nil
}

// stopped is Announce's error when ctx ended the wait.
func (an *announcer) stopped(ctx context.Context) error {
	return fmt.Errorf("announce: stopped before this machine was accepted (%w): run announce again to keep waiting; the fingerprint stays %s",
		ctx.Err(), an.keys.Fingerprint())
}

// finalError ends Announce: retrying cannot help (a rejection, an approval
// this machine cannot use).
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// waiting is called for every "pending" answer: the first prints the banner,
// later ones (after a reconnect or a periodic re-announce) only log.
func (an *announcer) waiting(serverFingerprint, message string) {
	fp := an.keys.Fingerprint()
	if serverFingerprint != "" && serverFingerprint != fp {
		an.log.Warn("the server reports another fingerprint for this machine than its own key has: an admin must not accept it; check --server and --ca-fingerprint",
			"fingerprint", fp, "server_fingerprint", clipText(serverFingerprint))
	}
	attrs := []any{"fingerprint", fp, "hostname", an.hostname}
	if message != "" {
		attrs = append(attrs, "server_says", clipText(message))
	}
	if an.bannerShown {
		an.log.Debug("still waiting for approval", attrs...)
		return
	}
	an.bannerShown = true
	an.log.Info("waiting for approval: ask an admin to accept this fingerprint in the dashboard's Pending hosts panel", attrs...)
	if an.opts.Banner != nil {
		fmt.Fprint(an.opts.Banner, an.banner())
	}
}

// banner is the block a person reads out on the phone to the admin.
func (an *announcer) banner() string {
	const rule = "------------------------------------------------------------------------\n"
	return "\n" + rule +
		"  This machine is waiting for approval.\n\n" +
		fmt.Sprintf("  Host name:    %s (%s/%s)\n", an.hostname, runtime.GOOS, runtime.GOARCH) +
		fmt.Sprintf("  Fingerprint:  %s\n", an.keys.Fingerprint()) +
		fmt.Sprintf("  Server:       %s\n\n", an.opts.ServerURL) +
		"  Ask an admin to compare this fingerprint in the dashboard's\n" +
		"  Pending hosts panel and accept it. This program keeps waiting and\n" +
		"  starts working as soon as the machine is accepted. If you stop it,\n" +
		"  announcing again later shows the same fingerprint.\n" +
		rule + "\n"
}
