package main

import (
	"fmt"
	"net/url"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// messageBus is what the server needs from "a broker", embedded or external:
//   - publish down messages (commands, configs, acks, announce answers) and
//     the retained monitor states: server.Publisher;
//   - cut a client off when it is revoked: server.Disconnecter. An external
//     broker that keeps its own accounts also implements server.Provisioner
//     and is given each identity's secret and ACL as the server makes them;
//   - deliver the agents' up messages and announces with the client they
//     came from, and report presence: wired by startEmbeddedBroker and
//     startExternalBroker, into server.Service.HandleMessage /
//     HandleAnnounce and Presence (an external broker shared by replicas:
//     HandleShared and Observe);
//   - say whether it is serving (/healthz), name its counters (/metrics),
//     and close.
//
// The server package never imports a broker; this file and the two start
// functions are the only places that know both.
type messageBus interface {
	server.Publisher
	server.Disconnecter
	Serving() error
	Close() error
}

// upstream is where a bus hands what agents send.
type upstream struct {
	svc *server.Service
}

// message takes an agent's up message. conn is the broker's connection
// serial, or 0 when the broker has none (HandleMessage says what then).
func (u upstream) message(topic string, payload []byte, clientID string, conn uint64) {
	u.svc.HandleMessage(topic, payload, clientID, conn)
}

// shared takes an agent's up message from an external broker's share
// group: the part of its handling done once among the replicas.
func (u upstream) shared(topic string, payload []byte, clientID string) {
	u.svc.HandleShared(topic, payload, clientID)
}

// observe takes an agent's up message every replica receives: the part
// each keeps in memory (presence, live progress, query replies).
func (u upstream) observe(topic string, payload []byte, clientID string) {
	u.svc.Observe(topic, payload, clientID)
}

// announce takes a pending client's announce request.
func (u upstream) announce(topic string, payload []byte, clientID string, conn uint64) {
	u.svc.HandleAnnounce(topic, payload, clientID, conn)
}

// embeddedBus is the embedded Mochi broker as a messageBus.
type embeddedBus struct{ *broker.Broker }

var _ messageBus = embeddedBus{}

// startEmbeddedBroker starts the embedded broker with the server's
// authenticator, presence callbacks and inline subscriptions.
func (m *Main) startEmbeddedBroker(up upstream) (messageBus, error) {
	cfg := m.BrokerConfig
	cfg.TCPAddr, cfg.TLSAddr = m.MQTTAddr, m.MQTTSAddr
	cfg.TLSConfig = m.tls.Config
	cfg.Logger = m.Logger
	presence := m.svc.Presence()
	cfg.OnConnect = func(id broker.Identity, conn uint64, remote string) {
		switch id.Role {
		case broker.RoleHost:
			presence.Connected(id.ID, conn, remote)
		case broker.RolePending:
			m.svc.PendingConnected(id.ID, conn, remote)
		}
	}
	cfg.OnDisconnect = func(id broker.Identity, conn uint64) {
		if id.Role == broker.RoleHost {
			presence.Disconnected(id.ID, conn)
		}
	}
	b, err := broker.New(cfg, mqttAuth{m.svc})
	if err != nil {
		return nil, err
	}
	m.broker = b
	if err := b.Start(); err != nil {
		return nil, err
	}
	if err := b.Subscribe(topics.AllAnnounceReqFilter, func(msg broker.Message) {
		up.announce(msg.Topic, msg.Payload, msg.ClientID, msg.Conn)
	}); err != nil {
		return nil, err
	}
	if err := b.Subscribe(topics.AllHostsUpFilter, func(msg broker.Message) {
		up.message(msg.Topic, msg.Payload, msg.ClientID, msg.Conn)
	}); err != nil {
		return nil, err
	}
	return embeddedBus{b}, nil
}

// brokerStats names the bus's counters for /metrics.
func (m *Main) brokerStats() map[string]uint64 {
	if m.broker == nil {
		return m.externalStats()
	}
	st := m.broker.Stats()
	return map[string]uint64{
		"connections": st.Connections, "auth_failures": st.AuthFailures, "denied_publishes": st.DeniedPublishes,
		"denied_subscribes": st.DeniedSubscribes, "panics_recovered": st.PanicsRecovered, "rate_limited": st.RateLimited,
		"connect_timeouts": st.ConnectTimeouts, "oversize_packets": st.OversizePackets,
		"unavailable": st.Unavailable, "handshakes_queued": st.HandshakesQueued, "admission_timeouts": st.AdmissionTimeouts,
		"tls_handshakes": st.TLSHandshakes, "tls_resumed": st.TLSResumed, "retained_replayed": st.RetainedReplayed,
	}
}

// brokerSummary says where the broker is, for the "serving" log line.
func (m *Main) brokerSummary() []any {
	if m.broker == nil {
		return []any{"broker", m.BrokerURL.Redacted()}
	}
	return []any{"mqtt", addrOrOff(m.broker.TCPAddr()), "mqtts", addrOrOff(m.broker.TLSAddr())}
}

// parseBrokerURL checks serve --broker: mqtt:// or mqtts://, a host and a
// port, no password (it would show in ps and in logs: RM_BROKER_PASSWORD
// carries it).
func parseBrokerURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Hostname() == "" || u.Port() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, usagef("--broker %q is not a broker URL: want mqtt://host:port or mqtts://host:port", redactURL(s))
	}
	if _, ok := u.User.Password(); ok {
		return nil, usagef("--broker must not carry a password (it would be visible to every user of this machine): pass the user in the URL or --broker-user, the password in RM_BROKER_PASSWORD")
	}
	u.Path = ""
	return u, nil
}

// redactURL hides a password in a URL that did not parse as a broker URL.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return fmt.Sprintf("(%d characters)", len(s))
}
