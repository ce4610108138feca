package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// EnrollTokenEnv is the environment variable `enroll` reads the token from
// when --token is not given, so the token stays out of shell history and of
// the process list.
const EnrollTokenEnv = "RM_ENROLL_TOKEN"

// EnrollOptions are the inputs of Enroll.
type EnrollOptions struct {
	// ServerURL is the server's base URL, https://host[:port]. Plain http is
	// accepted only for a loopback address.
	ServerURL string
	// Token is the single-use enrollment token. It is sent only in the
	// request body: never in a URL, an argument list or a log line.
	Token string
	// CAFingerprint pins the server's CA ("SHA256:..."). When set, the TLS
	// connection must chain to that CA and the CA returned by the server
	// must hash to it.
	CAFingerprint string
	// ConfigPath is where the agent config is written (mode 0600).
	ConfigPath string
	// StateDir goes into the config; DefaultStateDir() when empty.
	StateDir string
	// ResticBinary goes into the config; "restic" when empty.
	ResticBinary string
	// Force overwrites an existing config (the old identity is lost).
	Force bool
	// HTTPClient replaces the built-in client (which does the TLS pinning);
	// a replacement must verify TLS itself. The returned CA is still checked
	// against CAFingerprint.
	HTTPClient *http.Client
	// Logger receives warnings (e.g. restic missing); slog.Default() when nil.
	Logger *slog.Logger
}

// EnrollResult is what a successful enrollment produced.
type EnrollResult struct {
	// Config is the configuration that was written.
	Config *Config
	// HostName is the name the server gave this host.
	HostName string
}

// Enroll exchanges a token for this host's identity and writes the config.
// Nothing is written unless every check passed.
func Enroll(ctx context.Context, opts EnrollOptions) (*EnrollResult, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	server, pin, err := opts.check()
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	restic := opts.ResticBinary
	if restic == "" {
		restic = DefaultResticBinary
	}
	resticVersion, err := ResticVersion(ctx, restic)
	if err != nil {
		log.Warn("restic is not usable; enrolling anyway, backups will fail until it is installed", "err", err)
	}
	body, err := json.Marshal(topics.EnrollRequest{
		Token: opts.Token, Hostname: hostname(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		AgentVersion: Version, ResticVersion: resticVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("enroll: encode request: %w", err)
	}
	client := opts.HTTPClient
	if client == nil {
		client = serverHTTPClient(server.Hostname(), pin)
	}
	ans, err := askServer(ctx, client, server, topics.EnrollPath, body, "enroll", "refusing to send the token to")
	if err != nil {
		return nil, err
	}
	if ans.status != http.StatusOK && ans.status != http.StatusCreated {
		return nil, enrollStatusError(ans.status, ans.location, ans.body)
	}
	answer, err := topics.DecodeEnrollResponse(ans.body)
	if err != nil {
		return nil, fmt.Errorf("enroll: the server's %w: is --server the restic-manager server?", err)
	}
	cfg, err := enrollConfig(answer, opts, pin)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if err := cfg.SaveConfig(opts.ConfigPath); err != nil {
		return nil, fmt.Errorf("enroll: the server accepted the token but the config could not be written (%w): fix the problem and ask for a new token", err)
	}
	return &EnrollResult{Config: cfg, HostName: clipText(answer.HostName)}, nil
}

// check validates the options and returns the server URL and the pin.
func (o *EnrollOptions) check() (*url.URL, []byte, error) {
	u, pin, err := checkServer(o.ServerURL, o.CAFingerprint, "which would send the token in clear text")
	if err != nil {
		return nil, nil, err
	}
	if err := checkToken(o.Token); err != nil {
		return nil, nil, err
	}
	if err := checkConfigTarget(o.ConfigPath, o.Force); err != nil {
		return nil, nil, err
	}
	return u, pin, nil
}

// checkToken rejects tokens that cannot be what the server issued
// (topics.CheckEnrollToken), before anything is sent.
func checkToken(t string) error {
	if t == "" {
		return fmt.Errorf("no enrollment token: pass --token T, --token - (read from stdin) or set %s", EnrollTokenEnv)
	}
	return topics.CheckEnrollToken(t)
}

// hostname is this machine's name as the server will first display it.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	if len(h) > topics.MaxMachineField {
		h = h[:topics.MaxMachineField]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(h, ""))
}
