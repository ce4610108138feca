package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/mosquitto"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	m := &Main{Stdout: stdout, AdminPassword: os.Getenv("RM_ADMIN_PASSWORD")}
	fs.StringVar(&m.DataDir, "data", "data", "data directory (database, master key)")
	fs.StringVar(&m.ServiceOptions.Database, "db", "", "the store when not SQLite in --data: a PostgreSQL URL, postgres://user@host:5432/dbname?sslmode=verify-full (password from PGPASSWORD or ~/.pgpass rather than the URL; default $"+server.DatabaseEnv+"; docs/postgres.md)")
	fs.StringVar(&m.HTTPAddr, "http", "127.0.0.1:8080", "plain HTTP listen address (\"\" = off)")
	fs.StringVar(&m.HTTPSAddr, "https", "", "HTTPS listen address with the server's own CA (\"\" = off)")
	fs.StringVar(&m.MQTTAddr, "mqtt", "127.0.0.1:1883", "plain MQTT listen address (\"\" = off)")
	fs.StringVar(&m.MQTTSAddr, "mqtts", "127.0.0.1:8883", "MQTT over TLS listen address (\"\" = off)")
	fs.StringVar(&m.PublicURL, "public-url", "", "base URL agents and people use, for enroll commands")
	fs.StringVar(&m.MQTTPublicURL, "mqtt-public-url", "", "broker URL given to enrolling agents (default: derived)")
	fs.StringVar(&m.AgentsDir, "agents-dir", "dist", "directory of the agent binaries machines install from (make agents fills dist)")
	names := fs.String("tls-names", "", "comma-separated extra DNS names/IPs for the server certificate")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	haDiscovery := fs.Bool("ha-discovery", false, "turn on Home Assistant MQTT discovery on the monitor feed at start (it stays on; turn it off on the users page or the API)")
	// A site behind one NAT address reconnects all its machines at once after
	// an outage, so the per-address limit is generous; failed auth has its own,
	// much stricter limit in the broker.
	fs.IntVar(&m.BrokerConfig.MaxConnsPerAddrPerMinute, "mqtt-conn-limit", 600, "MQTT connection attempts per source address per minute")
	fs.IntVar(&m.BrokerConfig.MaxClientWritesPending, "mqtt-client-queue", broker.DefaultMaxClientWritesPending,
		"MQTT packets that may wait for one client (8 bytes each, per client); a monitoring client's host states do not go through it")
	fs.IntVar(&m.HTTPConnsPerAddr, "http-conns-per-addr", web.DefaultConnsPerAddr,
		"open HTTP connections one client address may hold per listener (0 = no cap; raise it behind a reverse proxy)")
	fs.IntVar(&m.HTTPMaxConns, "http-max-conns", defaultHTTPMaxConns, "open HTTP connections per listener in all (0 = no cap)")
	brokerURL := fs.String("broker", "", "external MQTT broker (Mosquitto 2 with its dynamic-security plugin), mqtt://host:port or mqtts://host:port, instead of the embedded one; its admin password comes from RM_BROKER_PASSWORD (docs/external-broker.md)")
	fs.StringVar(&m.BrokerUser, "broker-user", "", "the external broker's admin username (default: the --broker URL's user)")
	fs.StringVar(&m.BrokerClientID, "broker-client-id", "", "this server's MQTT client ID at the external broker; every replica needs its own (default "+mosquitto.DefaultClientID+")")
	fs.StringVar(&m.BrokerShareGroup, "broker-share-group", "", "shared-subscription group in which replicas split the agents' traffic (default "+mosquitto.DefaultShareGroup+")")
	pprofAddr := fs.String("pprof", "", "loopback address serving Go runtime profiles (/debug/pprof/) for measuring, e.g. 127.0.0.1:6060 (\"\" = off)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes flags only, not %q; 'restic-manager serve --help' lists them", fs.Arg(0))
	}
	if m.ServiceOptions.Database == "" {
		m.ServiceOptions.Database = os.Getenv(server.DatabaseEnv)
	}
	if *names != "" {
		m.TLSNames = strings.Split(*names, ",")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level %q is not valid: want debug, info, warn or error", *logLevel)
	}
	m.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *brokerURL != "" {
		if err := m.useExternalBroker(*brokerURL); err != nil {
			return err
		}
	}
	reportFileLimit := raiseFileLimit()
	keepGCHeadroom() // serve_gc.go
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr, m.Logger); err != nil {
			return err
		}
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	if *haDiscovery {
		if _, err := m.svc.SetMonitorSettings(ctx, server.CLIActor(), server.MonitorSettings{HADiscovery: true}); err != nil {
			m.Close()
			return err
		}
	}
	reportFileLimit(m.Logger)
	m.Logger.Info("restic-manager is serving", append([]any{"version", version, "web", m.HTTPURL()}, append(m.brokerSummary(),
		"ca_fingerprint", m.tls.Fingerprint, "data", m.DataDir)...)...)
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}

// defaultHTTPMaxConns leaves file descriptors for the broker and the store
// when the web side is flooded.
const defaultHTTPMaxConns = 4096

func addrOrOff(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
