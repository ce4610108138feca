package web

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// DefaultEnrollRateLimit is how many failed enroll attempts one client
// address may make per minute when Config.EnrollRateLimit is zero.
const DefaultEnrollRateLimit = 10

// HTTP deadlines (#9: 1,500 slow-body POSTs held 1,500 connections for 50+ s
// when only the headers had a deadline). See docs/DECISIONS.md.
const (
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = time.Minute
	// DefaultAnonymousBodyTimeout bounds reading the body of a caller not
	// known yet (sign-in, agent enrollment), counted from the handler's start.
	DefaultAnonymousBodyTimeout = 10 * time.Second
	readHeaderTimeout           = 10 * time.Second
	idleTimeout                 = 2 * time.Minute
)

// Config is what the web layer needs from the wiring in cmd/restic-manager.
type Config struct {
	// PublicURL is the base URL people and agents reach this server at, e.g.
	// "https://backup.example.com:8443". It goes into the enroll commands.
	// When empty, the scheme and host of the current request are used.
	PublicURL string
	// MQTTURL returns the broker URL handed to an enrolling agent, e.g.
	// "mqtts://backup.example.com:8883". It gets the enroll request so the
	// wiring can reuse the host name the agent reached the server under.
	MQTTURL func(r *http.Request) string
	// CACertPEM is the CA certificate agents pin, served at /ca.pem and
	// returned to enrolling agents; CAFingerprint is its "SHA256:..." form
	// that the enroll command carries.
	CACertPEM     []byte
	CAFingerprint string
	// Secure marks cookies Secure (and names the session cookie __Host-...)
	// and sends HSTS. Set it when the server speaks only TLS. Without it,
	// cookies set over a TLS connection are still marked Secure.
	Secure bool
	// Version is shown in the page footer and by /healthz.
	Version string
	// EnrollRateLimit is how many failed enroll attempts one client address
	// may make per minute on POST /api/v1/agents/enroll; 0 means
	// DefaultEnrollRateLimit. Successful enrollments do not count, so a
	// whole site behind one NAT address can enroll at once.
	EnrollRateLimit int
	// TrustedProxies lists proxy addresses or CIDRs whose X-Forwarded-For
	// header is believed. Empty means none: the TCP peer is the client.
	TrustedProxies []string
	// SessionCheckInterval is how often an open event stream re-checks its
	// session; 0 means 5 minutes. A page on a wall display is in use as long
	// as it is open: the check keeps its session from idling out, and a
	// session signed out or expired meanwhile ends the stream (the page then
	// reloads into the sign-in page, see static/app.js).
	SessionCheckInterval time.Duration
	// BrokerStats, when set, returns the broker's counters by name (e.g.
	// "auth_failures"); /metrics exports each as rm_broker_<name>_total.
	// web may not import the broker, so the wiring passes a function.
	BrokerStats func() map[string]uint64
	// InstallScripts, when set, holds install.sh and install.ps1. They are
	// served at /install.sh and /install.ps1 and the enroll page then shows
	// one-line "install and enroll" commands that use them.
	InstallScripts fs.FS
	// AgentBinaries, when set, is the directory of agent builds served at
	// GET /agent/binary and listed at GET /agent/binaries.
	AgentBinaries *AgentBinaries
	// ReadTimeout bounds reading a whole request, headers and body, on
	// every route; 0 means DefaultReadTimeout. It does not limit how long
	// a response takes: net/http lifts it once the body is read.
	ReadTimeout time.Duration
	// AnonymousBodyTimeout bounds reading the body of a request whose
	// caller has not proven who it is (POST /login, agent enrollment);
	// 0 means DefaultAnonymousBodyTimeout.
	AnonymousBodyTimeout time.Duration
	// BrokerServing, when set, reports whether the MQTT broker still
	// accepts connections (nil error) for /healthz. web may not import the
	// broker, so the wiring passes a function.
	BrokerServing func() error
}

// Server is the web application: an http.Handler for the dashboard, the API
// and the event streams. Close it to end open event streams.
type Server struct {
	engine *gin.Engine
	hub    *hub
	jobs   *jobWatch // the job duration histogram's observer (metrics_fleet.go)
	once   sync.Once
	cfg    Config
}

var ginMode sync.Once

// New builds the web application on svc. It parses every template, so a
// template mistake is an error here rather than a broken page later, and it
// starts the hub that turns domain events into page updates.
func New(cfg Config, svc *server.Service, logger *slog.Logger) (*Server, error) {
	if svc == nil {
		return nil, errors.New("web: no service")
	}
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("web: public URL %q must look like https://host:port", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	if cfg.EnrollRateLimit <= 0 {
		cfg.EnrollRateLimit = DefaultEnrollRateLimit
	}
	if cfg.SessionCheckInterval <= 0 {
		cfg.SessionCheckInterval = defaultSessionCheck
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.AnonymousBodyTimeout <= 0 {
		cfg.AnonymousBodyTimeout = DefaultAnonymousBodyTimeout
	}
	if cfg.MQTTURL == nil {
		return nil, errors.New("web: Config.MQTTURL is required: enrolling agents need the broker address")
	}
	assets, err := loadStatic()
	if err != nil {
		return nil, err
	}
	h := &handler{
		cfg:         cfg,
		svc:         svc,
		log:         logger,
		static:      assets,
		metrics:     newMetrics(svc, logger),
		enrollLimit: newRateLimiter(cfg.EnrollRateLimit, time.Minute, time.Now),
	}
	h.health = newHealthProbe(h.checkHealth)
	if h.tpl, err = loadTemplates(); err != nil {
		return nil, err
	}
	h.hub = newHub(svc, h, logger)
	h.metrics.jobs.start()

	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	engine := gin.New()
	if err := engine.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		h.hub.close()
		h.metrics.jobs.stop()
		return nil, fmt.Errorf("web: trusted proxies: %w", err)
	}
	engine.HandleMethodNotAllowed = true
	h.mount(engine)
	return &Server{engine: engine, hub: h.hub, jobs: h.metrics.jobs, cfg: cfg}, nil
}

// HTTPServer is the http.Server to serve s with: every request has a
// deadline for its headers and one for the whole request, idle keep-alive
// connections are closed, and there is no server-wide write deadline, which
// would cut event streams (slow readers are bounded by the per-address
// connection cap instead, see LimitConns). errorLog may be nil.
func (s *Server) HTTPServer(errorLog *log.Logger) *http.Server {
	return &http.Server{Handler: s, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: s.cfg.ReadTimeout,
		IdleTimeout: idleTimeout, ErrorLog: errorLog}
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Close stops the event hub and ends every open event stream, so that
// http.Server.Shutdown does not wait for browsers to hang up. It is safe to
// call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.hub.close()
		s.jobs.stop()
	})
	return nil
}
