package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/restic-manager/restic-manager/broker/mosquitto"
	"github.com/restic-manager/restic-manager/server"
)

const brokerCertUsage = `usage: restic-manager broker-cert --names HOST[,HOST...] --out DIR [--data DIR]

Issues a serving certificate for an external MQTT broker (serve --broker) from
the server's CA, which agents pin, for the names agents reach the broker under.
Writes DIR/broker.crt, DIR/broker.key (mode 0600) and DIR/ca.crt: Mosquitto's
certfile, keyfile and cafile (docs/external-broker.md).`

// cmdBrokerCert issues the external broker's certificate into a directory.
// It refuses to overwrite: a key in use is replaced on purpose, by removing
// it first.
func cmdBrokerCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := groupHelp(args, brokerCertUsage, stdout); err != nil {
		return err
	}
	fset := flag.NewFlagSet("broker-cert", flag.ContinueOnError)
	data := fset.String("data", "data", dataFlagUsage)
	names := fset.String("names", "", "comma-separated DNS names or IPs agents use for the broker")
	out := fset.String("out", "", "directory to write broker.crt, broker.key and ca.crt into")
	if err := parseFlags(fset, args, stdout); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usagef("broker-cert takes flags only, not %q; 'restic-manager broker-cert --help' lists them", fset.Arg(0))
	}
	if *names == "" || *out == "" {
		return usagef("broker-cert needs --names (the broker's host names or IPs) and --out (a directory)")
	}
	files := map[string]string{"broker.crt": "", "broker.key": "", "ca.crt": ""}
	for name := range files {
		p := filepath.Join(*out, name)
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists; remove it first to replace the broker's certificate", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	svc, err := openService(*data, stderr)
	if err != nil {
		return err
	}
	defer svc.Close()
	cert, key, ca, err := svc.IssueBrokerCertificate(ctx, strings.Split(*names, ","))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{{"broker.crt", cert, 0o644}, {"ca.crt", ca, 0o644}, {"broker.key", key, 0o600}} {
		if err := writeNew(filepath.Join(*out, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "Wrote %s: broker.crt, broker.key (keep it private) and ca.crt, for names %s.\n"+
		"In mosquitto.conf: certfile %s, keyfile %s (readable by the mosquitto user).\n",
		*out, *names, filepath.Join(*out, "broker.crt"), filepath.Join(*out, "broker.key"))
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// brokerFlagUsage is the --broker flag of the admin subcommands that create
// an MQTT identity.
const brokerFlagUsage = "the external broker serve --broker uses, mqtt(s)://USER@host:port, admin password in " +
	brokerPasswordEnv + ": the identity is provisioned there too"

// provisionOnBroker connects an admin subcommand's service to the external
// broker as serve does, so that an identity it creates is provisioned there.
// Its client ID is its own, so it never takes over the server's session.
func provisionOnBroker(ctx context.Context, svc *server.Service, rawURL string) (closeBus func(), err error) {
	m := &Main{Logger: slog.New(slog.DiscardHandler)}
	if err := m.useExternalBroker(rawURL); err != nil {
		return nil, err
	}
	m.BrokerClientID = fmt.Sprintf("%s-cli-%d", mosquitto.DefaultClientID, os.Getpid())
	ca, err := svc.CACertPEM(ctx)
	if err != nil {
		return nil, err
	}
	b, err := m.connectExternal(ctx, ca)
	if err != nil {
		return nil, err
	}
	svc.SetDisconnecter(externalBus{b})
	return func() { b.Close() }, nil
}
