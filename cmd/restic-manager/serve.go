package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/mosquitto"
	"github.com/restic-manager/restic-manager/install"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/web"
)

// Main is the whole server process: store, broker and web app. Tests start it
// on port 0 with a temporary data directory (WTF Dial's Main pattern).
type Main struct {
	DataDir   string
	HTTPAddr  string // plain HTTP listener; "" = off
	HTTPSAddr string // HTTPS listener with the server's CA; "" = off
	MQTTAddr  string // plain MQTT listener; "" = off
	MQTTSAddr string // MQTT over TLS; "" = off
	// PublicURL is the base URL put into enroll commands; empty = the URL the
	// admin's browser used.
	PublicURL string
	// MQTTPublicURL is the broker URL handed to enrolling agents; empty = the
	// host the agent reached the web server under, with the MQTTS port (or
	// the MQTT port when MQTTS is off).
	MQTTPublicURL string
	// AgentsDir holds the cross-compiled agents served at /agent/binary
	// (`make agents` writes them to dist/); "" = none.
	AgentsDir string
	// TLSNames are extra DNS names or IPs for the serving certificate.
	TLSNames []string
	// AdminPassword is used for the first admin (RM_ADMIN_PASSWORD).
	AdminPassword string
	Logger        *slog.Logger
	// Stdout receives the one-time admin password banner.
	Stdout io.Writer
	// ServiceOptions tunes the domain (tests shorten presence timings).
	ServiceOptions server.Options
	// BrokerConfig is the template for the broker's limits; addresses,
	// TLS and callbacks are filled in by Run.
	BrokerConfig broker.Config
	// BrokerURL, when set, is an external Mosquitto used instead of the
	// embedded broker (serve --broker, #15); MQTTAddr and MQTTSAddr are
	// then not listened on. BrokerUser and BrokerPassword are its admin
	// client (RM_BROKER_PASSWORD), BrokerClientID this replica's client ID
	// and BrokerShareGroup the share group replicas split agent traffic in
	// (empty: the defaults of package mosquitto).
	BrokerURL                        *url.URL
	BrokerUser, BrokerPassword       string
	BrokerClientID, BrokerShareGroup string
	// HTTPConnsPerAddr and HTTPMaxConns cap the open connections of each
	// web listener, per client address and in all (web.LimitConns); 0 =
	// no cap. Behind a reverse proxy every client is the proxy's address.
	HTTPConnsPerAddr, HTTPMaxConns int

	svc      *server.Service
	bus      messageBus
	broker   *broker.Broker // the embedded broker, nil with BrokerURL
	external *mosquitto.Bus // the external broker, nil without
	web      *web.Server
	httpSrvs []*http.Server
	httpLns  []net.Listener
	tls      *server.TLSMaterial
	cancel   context.CancelFunc
	done     chan struct{}
	// serving is set once Run returned without error: Close logs its
	// steps only then (a failed start says one sentence, nothing more).
	serving bool
}

// Run opens the data directory and starts every listener. It returns once the
// server is serving; Close stops it.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if m.Stdout == nil {
		m.Stdout = os.Stdout
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	// A taken port stops the start before anything is created.
	if err := m.checkListenAddrs(); err != nil {
		return err
	}
	if m.svc, err = server.Open(m.DataDir, m.Logger, m.ServiceOptions); err != nil {
		return err
	}
	if m.tls, err = m.svc.LoadOrCreateTLS(ctx, m.TLSNames); err != nil {
		return err
	}
	m.svc.SetAnnounceEndpoint(m.MQTTPublicURL, m.tls.CACertPEM, m.tls.Fingerprint)
	if err := m.startBroker(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		m.svc.Run(runCtx)
	}()
	if err := m.svc.Presence().Start(ctx); err != nil {
		return err
	}
	if err := m.startWeb(); err != nil {
		return err
	}
	// Last: once every listener is bound, no failed start eats the
	// one-time password.
	if err := m.ensureAdmin(ctx); err != nil {
		return err
	}
	m.serving = true
	return nil
}

// ensureAdmin creates the user admin on first start and prints its password
// once, with the command that sets a new one.
func (m *Main) ensureAdmin(ctx context.Context) error {
	pw, err := m.svc.EnsureAdmin(ctx, m.AdminPassword)
	if err != nil || pw == "" {
		return err
	}
	fmt.Fprintf(m.Stdout, "\n  First start: created user \"admin\" with password:\n\n      %s\n\n"+
		"  It is shown only this once. Sign in and add your own users.\n"+
		"  Lost it? This sets a new one (the first line of the file), also while the server runs:\n\n"+
		"      %s user passwd admin --data %s < new-password.txt\n\n", pw, programName(), shellQuote(m.DataDir))
	return nil
}

// checkListenAddrs binds and releases every configured listen address, so
// that a taken or invalid one is refused with the flag that moves it.
func (m *Main) checkListenAddrs() error {
	for _, l := range []struct{ flag, addr string }{
		{"http", m.HTTPAddr}, {"https", m.HTTPSAddr}, {"mqtt", m.MQTTAddr}, {"mqtts", m.MQTTSAddr},
	} {
		if l.addr == "" || (m.BrokerURL != nil && (l.flag == "mqtt" || l.flag == "mqtts")) {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s (--%s) is already in use, by another program or another restic-manager; stop it, or pass --%s with a free address (with make run: make run ARGS='--%s 127.0.0.1:PORT')",
				l.addr, l.flag, l.flag, l.flag)
		}
		if err != nil {
			return fmt.Errorf("cannot listen on %s (--%s): %v; pass --%s with another address, or '' to turn it off", l.addr, l.flag, err, l.flag)
		}
		ln.Close()
	}
	return nil
}

// startBroker starts the embedded broker, or connects to the external one,
// and connects the domain to it.
func (m *Main) startBroker(ctx context.Context) error {
	up := upstream{svc: m.svc}
	var err error
	if m.BrokerURL != nil {
		m.bus, err = m.startExternalBroker(ctx, up)
	} else {
		m.bus, err = m.startEmbeddedBroker(up)
	}
	if err != nil {
		return err
	}
	m.svc.SetPublisher(m.bus)
	m.svc.SetDisconnecter(m.bus)
	return nil
}

func (m *Main) startWeb() error {
	bins, err := m.agentBinaries()
	if err != nil {
		return err
	}
	w, err := web.New(web.Config{
		PublicURL:     m.PublicURL,
		MQTTURL:       m.mqttURLFor,
		CACertPEM:     m.tls.CACertPEM,
		CAFingerprint: m.tls.Fingerprint,
		Secure:        m.HTTPAddr == "" && m.HTTPSAddr != "",
		Version:       version,
		BrokerStats:   m.brokerStats,
		BrokerServing: m.bus.Serving,
		// The scripts are embedded: they always match this server.
		InstallScripts: install.Scripts,
		AgentBinaries:  bins,
	}, m.svc, m.Logger.With("component", "web"))
	if err != nil {
		return err
	}
	m.web = w
	for _, l := range []struct {
		addr string
		tls  *tls.Config
	}{{m.HTTPAddr, nil}, {m.HTTPSAddr, m.tls.Config}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", l.addr, err)
		}
		ln = web.LimitConns(ln, m.HTTPConnsPerAddr, m.HTTPMaxConns, m.Logger.With("component", "web"))
		if l.tls != nil {
			ln = tls.NewListener(ln, l.tls)
		}
		srv := w.HTTPServer(slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn))
		m.httpSrvs, m.httpLns = append(m.httpSrvs, srv), append(m.httpLns, ln)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Logger.Error("http server stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	// Notifications link to the job or host page: at the public URL, else
	// at the first web listener.
	base := m.PublicURL
	if base == "" {
		base = m.HTTPURL()
	}
	m.svc.SetPublicURL(base)
	return nil
}

// mqttURLFor tells an enrolling agent where the broker is: MQTTPublicURL when
// set, else an external broker's URL (--broker, without its user), else the
// host name the agent used for HTTP with the embedded broker's port.
func (m *Main) mqttURLFor(r *http.Request) string {
	if m.MQTTPublicURL != "" {
		return m.MQTTPublicURL
	}
	if m.BrokerURL != nil {
		return (&url.URL{Scheme: m.BrokerURL.Scheme, Host: m.BrokerURL.Host}).String()
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	scheme, addr := "mqtts", m.broker.TLSAddr()
	if m.MQTTSAddr == "" {
		scheme, addr = "mqtt", m.broker.TCPAddr()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return scheme + "://" + net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// HTTPURL is the base URL of the first web listener (tests use it).
func (m *Main) HTTPURL() string {
	if len(m.httpLns) == 0 {
		return ""
	}
	scheme := "http"
	if m.HTTPAddr == "" {
		scheme = "https"
	}
	return scheme + "://" + m.httpLns[0].Addr().String()
}

// HTTPSURL is the base URL of the HTTPS listener, "" when it is off.
func (m *Main) HTTPSURL() string {
	if m.HTTPSAddr == "" || len(m.httpLns) == 0 {
		return ""
	}
	return "https://" + m.httpLns[len(m.httpLns)-1].Addr().String()
}

// Service is the running domain (tests use it).
func (m *Main) Service() *server.Service { return m.svc }

// Broker is the running embedded broker, nil with an external one (tests use it).
func (m *Main) Broker() *broker.Broker { return m.broker }

// TLS is the CA and serving certificate.
func (m *Main) TLS() *server.TLSMaterial { return m.tls }

// Close stops listeners, flushes presence and closes the store. It logs
// how long each step took, so a slow stop says where it waited.
func (m *Main) Close() error {
	var errs []error
	start := time.Now()
	step := start
	var took []any
	lap := func(name string) {
		now := time.Now()
		took = append(took, name, now.Sub(step).Round(time.Millisecond))
		step = now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m.svc != nil {
		// The broker is about to drop every agent: their presence is
		// stored once, by the final flush, and announced to no one.
		m.svc.Presence().Stopping()
	}
	// The event streams end first: Shutdown waits for every request to
	// finish, and a browser's stream never does by itself, so with a
	// dashboard open every stop used to wait out the whole deadline.
	if m.web != nil {
		m.web.Close()
	}
	for _, s := range m.httpSrvs {
		if err := s.Shutdown(ctx); err != nil {
			m.logger().Warn("web: requests still running at the shutdown deadline; their connections are cut", "error", err)
			_ = s.Close()
		}
	}
	lap("web")
	if m.broker != nil {
		errs = append(errs, m.broker.Close())
	}
	if m.external != nil {
		errs = append(errs, m.external.Close())
	}
	lap("broker")
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
	lap("background")
	if m.svc != nil {
		errs = append(errs, m.svc.Close())
	}
	lap("store")
	if m.serving {
		m.logger().Info("stopped", append(took, "total", time.Since(start).Round(time.Millisecond))...)
	}
	return errors.Join(errs...)
}

// logger is Main's logger, one that discards before Run set it.
func (m *Main) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// mqttAuth adapts the domain's credential check to the broker's interface.
type mqttAuth struct{ svc *server.Service }

// Authenticate returns broker.ErrDenied only when the credentials really are
// wrong (server.CodeUnauthorized). Any other error is the server failing
// (the database busy, locked or unreadable): it is passed on as it is, and
// the broker answers "server unavailable", which the agent retries soon and
// which does not count as a failed login against the agent's address.
func (a mqttAuth) Authenticate(username string, password []byte) (broker.Identity, error) {
	kind, err := a.svc.AuthenticateMQTT(context.Background(), username, password)
	if server.ErrorCodeOf(err) == server.CodeUnauthorized {
		return broker.Identity{}, fmt.Errorf("mqtt auth %s: %w", username, broker.ErrDenied)
	}
	if err != nil {
		return broker.Identity{}, fmt.Errorf("mqtt auth %s: %w", username, err)
	}
	switch kind {
	case server.MQTTHost:
		return broker.Identity{Role: broker.RoleHost, ID: username}, nil
	case server.MQTTMonitor:
		return broker.Identity{Role: broker.RoleMonitor, ID: username}, nil
	case server.MQTTPending:
		return broker.Identity{Role: broker.RolePending, ID: username}, nil
	}
	return broker.Identity{}, broker.ErrDenied
}
