package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/restic-manager/restic-manager/broker/mosquitto"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// externalBus is an external Mosquitto as a messageBus; it also provisions
// identities (server.Provisioner), which the domain finds through
// SetDisconnecter.
type externalBus struct{ *mosquitto.Bus }

var _ messageBus = externalBus{}

// startExternalBroker connects to serve --broker as its admin client and
// consumes the agents' traffic: through the share group what must be done
// once among the replicas, and on its own what each replica keeps in
// memory (server.SharedUpFilters, server.ObservedUpFilters). Presence comes
// from the agents' own messages (hello, heartbeats, and the Will they
// register), which carry their connection count: Mosquitto reports no
// connects to a subscriber (docs/DECISIONS.md, #15).
func (m *Main) startExternalBroker(ctx context.Context, up upstream) (messageBus, error) {
	b, err := m.connectExternal(ctx, m.tls.CACertPEM)
	if err != nil {
		return nil, err
	}
	m.external = b
	m.svc.Presence().SetExternalBroker()
	// No connection serial: conn 0 (server.Service.HandleMessage).
	if err := b.SubscribeShared(topics.AllAnnounceReqFilter, func(msg mosquitto.Message) {
		up.announce(msg.Topic, msg.Payload, msg.ClientID, 0)
	}); err != nil {
		return nil, err
	}
	for _, f := range server.SharedUpFilters() {
		if err := b.SubscribeShared(f, func(msg mosquitto.Message) {
			up.shared(msg.Topic, msg.Payload, msg.ClientID)
		}); err != nil {
			return nil, err
		}
	}
	for _, f := range server.ObservedUpFilters() {
		if err := b.Observe(f, func(msg mosquitto.Message) {
			up.observe(msg.Topic, msg.Payload, msg.ClientID)
		}); err != nil {
			return nil, err
		}
	}
	return externalBus{b}, nil
}

// connectExternal connects to the external broker as its admin client. For
// mqtts it trusts the server's CA (caPEM), which issued the broker's
// certificate since agents pin it (restic-manager broker-cert), and the
// system's roots besides.
func (m *Main) connectExternal(ctx context.Context, caPEM []byte) (*mosquitto.Bus, error) {
	cfg := mosquitto.Config{
		URL:        m.BrokerURL,
		Username:   m.BrokerUser,
		Password:   m.BrokerPassword,
		ClientID:   m.BrokerClientID,
		ShareGroup: m.BrokerShareGroup,
		Logger:     m.Logger,
	}
	if m.BrokerURL.Scheme == "mqtts" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the server's CA certificate is unreadable")
		}
		cfg.TLSConfig = &tls.Config{RootCAs: roots, ServerName: m.BrokerURL.Hostname(), MinVersion: tls.VersionTLS12}
	}
	b, err := mosquitto.Connect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w; check --broker, --broker-user and %s, and that the broker loads the dynamic-security plugin (docs/external-broker.md)", err, brokerPasswordEnv)
	}
	return b, nil
}

// useExternalBroker sets serve --broker up: the URL, and the admin
// credentials (the password from RM_BROKER_PASSWORD only, never argv).
func (m *Main) useExternalBroker(rawURL string) error {
	u, err := parseBrokerURL(rawURL)
	if err != nil {
		return err
	}
	if m.BrokerUser == "" {
		m.BrokerUser = u.User.Username()
	}
	u.User = nil
	if m.BrokerUser == "" {
		return usagef("--broker needs the admin client's username: pass --broker-user, or put it in the URL (mqtt://USER@host:port)")
	}
	m.BrokerPassword = os.Getenv(brokerPasswordEnv)
	if m.BrokerPassword == "" {
		return usagef("--broker needs the admin client's password in the environment variable %s", brokerPasswordEnv)
	}
	m.BrokerURL = u
	return nil
}

// brokerPasswordEnv carries the external broker's admin password: an
// environment variable, like RM_ADMIN_PASSWORD and RM_MASTER_KEY, so it is
// never in argv (visible in ps) or in a log line.
const brokerPasswordEnv = "RM_BROKER_PASSWORD"

// externalStats names the external bus's counters for /metrics.
func (m *Main) externalStats() map[string]uint64 {
	if m.external == nil {
		return nil
	}
	st := m.external.Stats()
	return map[string]uint64{
		"published": st.Published, "publish_failures": st.PublishFailures, "received": st.Received,
		"connections_lost": st.ConnectionsLost, "control_requests": st.ControlRequests, "control_failures": st.ControlFailures,
	}
}
