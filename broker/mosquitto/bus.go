package mosquitto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/topics"
)

// Defaults for the zero values of Config.
const (
	DefaultClientID       = "restic-manager-server"
	DefaultShareGroup     = "restic-manager"
	DefaultRequestTimeout = 10 * time.Second
)

// Config configures a Bus.
type Config struct {
	// URL is the broker: mqtt://host:port or mqtts://host:port. It must
	// not carry a password.
	URL *url.URL
	// Username and Password are the admin client's credentials: its role
	// must allow the control API, publishing under rm/v1/, the shared
	// subscriptions and the observed ones (docs/external-broker.md lists
	// them). The bus connects three times with them: ClientID,
	// ClientID-observe and ClientID-control.
	Username, Password string
	// ClientID is the server's MQTT client ID; every replica needs its own.
	// Default DefaultClientID.
	ClientID string
	// ShareGroup names the shared subscriptions; replicas that split the
	// agents' traffic use the same group. Default DefaultShareGroup.
	ShareGroup string
	// TLSConfig is used for mqtts; nil trusts the system's roots.
	TLSConfig *tls.Config
	// RequestTimeout bounds the wait for a publish's acknowledgement and a
	// control request's answer. Default 10 s.
	RequestTimeout time.Duration
	// Logger receives the bus's log lines; nil discards them.
	Logger *slog.Logger
}

// Message is one publish delivered to a subscription.
type Message struct {
	Topic   string
	Payload []byte
	// ClientID is the host or pending client ID in the topic: the only
	// client the broker's ACL lets publish there. "" when the topic is not
	// one of ours.
	ClientID string
}

// Bus is the server's connection to an external Mosquitto.
type Bus struct {
	cfg       Config
	log       *slog.Logger
	client    mqtt.Client // the share group's agent traffic and the server's publishes
	obsClient mqtt.Client // agent traffic every replica sees (Observe)
	ctlClient mqtt.Client // control API requests and answers
	ctlSub    subscription

	mu      sync.Mutex
	subs    []subscription // the shared ones, re-made on every (re)connect
	obsSubs []subscription // the observed ones, likewise

	ctl     *control
	stats   counters
	closing atomic.Bool
}

type subscription struct {
	filter  string // as sent, $share/... included
	handler mqtt.MessageHandler
}

// Connect connects to the broker as the admin client and returns once the
// connection is up and the control API's answers are subscribed. Afterwards
// the bus reconnects by itself.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.URL == nil || (cfg.URL.Scheme != "mqtt" && cfg.URL.Scheme != "mqtts") || cfg.URL.Host == "" {
		return nil, errors.New("mosquitto: the broker URL must be mqtt://host:port or mqtts://host:port")
	}
	if _, hasPassword := cfg.URL.User.Password(); hasPassword {
		return nil, errors.New("mosquitto: the broker URL must not carry a password")
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("mosquitto: the admin client needs a username and a password")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.ShareGroup == "" {
		cfg.ShareGroup = DefaultShareGroup
	}
	if strings.ContainsAny(cfg.ShareGroup, "/+#") {
		return nil, fmt.Errorf("mosquitto: share group %q may not contain '/', '+' or '#'", cfg.ShareGroup)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{cfg: cfg, log: cfg.Logger.With("component", "mosquitto")}
	b.ctl = newControl(b)
	// Control requests have a connection of their own: their answers must
	// not wait behind agent traffic, whose handlers may themselves provision
	// (an approval inside an announce) and wait for an answer.
	b.ctlSub = subscription{filter: controlResponseTopic, handler: b.ctl.onResponse}
	b.ctlClient = b.newClient(cfg.ClientID+"-control", func(c mqtt.Client) { b.resubscribe(c, []subscription{b.ctlSub}) })
	b.client = b.newClient(cfg.ClientID, func(c mqtt.Client) { b.resubscribe(c, b.subscriptions(&b.subs)) })
	// What every replica sees comes on a connection of its own: a topic
	// both a shared and a plain subscription match (a hello, a heartbeat)
	// reaches a client once per subscription, and paho hands each copy to
	// every handler whose filter matches it, so on one connection neither
	// handler could tell its own copy.
	b.obsClient = b.newClient(cfg.ClientID+"-observe", func(c mqtt.Client) { b.resubscribe(c, b.subscriptions(&b.obsSubs)) })
	clients := []mqtt.Client{b.ctlClient, b.client, b.obsClient}
	disconnectAll := func() {
		for _, c := range clients {
			c.Disconnect(0)
		}
	}
	for _, c := range clients {
		if err := connect(ctx, c); err != nil {
			disconnectAll()
			return nil, fmt.Errorf("mosquitto: connect to %s as %s: %w", cfg.URL.Redacted(), cfg.Username, err)
		}
	}
	// The connect handler subscribes on its own goroutine; wait for the
	// control answers' subscription here, every provisioning needs it.
	if err := b.subscribe(b.ctlClient, b.ctlSub); err != nil {
		disconnectAll()
		return nil, err
	}
	b.log.Info("connected to the broker", "broker", cfg.URL.Redacted(), "client", cfg.ClientID, "share_group", cfg.ShareGroup)
	return b, nil
}

func connect(ctx context.Context, c mqtt.Client) error {
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.Disconnect(0)
		return ctx.Err()
	}
	return tok.Error()
}

// newClient makes one of the bus's two connections (not yet connected).
func (b *Bus) newClient(clientID string, onConnect mqtt.OnConnectHandler) mqtt.Client {
	cfg := b.cfg
	broker := url.URL{Scheme: "tcp", Host: cfg.URL.Host}
	if cfg.URL.Scheme == "mqtts" {
		broker.Scheme = "ssl"
	}
	opts := mqtt.NewClientOptions().
		AddBroker(broker.String()).
		SetClientID(clientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetProtocolVersion(4).
		// A clean session: a replica that is gone is dropped from the
		// share group at once instead of having messages queued for it.
		// What an agent sent meanwhile and was not acknowledged it sends
		// again (its outbox), as with the embedded broker after a restart.
		SetCleanSession(true).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(cfg.RequestTimeout).
		SetWriteTimeout(cfg.RequestTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(10 * time.Second).
		SetOrderMatters(true).
		SetOnConnectHandler(onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.stats.connectionsLost.Add(1)
			if !b.closing.Load() {
				b.log.Warn("connection to the broker lost; reconnecting", "broker", cfg.URL.Redacted(), "client", clientID, "error", err)
			}
		})
	if cfg.TLSConfig != nil {
		opts.SetTLSConfig(cfg.TLSConfig)
	}
	return mqtt.NewClient(opts)
}

// subscriptions is a copy of the subscriptions *subs, under mu.
func (b *Bus) subscriptions(subs *[]subscription) []subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]subscription(nil), *subs...)
}

// resubscribe subscribes again after every (re)connect: sessions are clean.
func (b *Bus) resubscribe(c mqtt.Client, subs []subscription) {
	for _, s := range subs {
		if err := b.subscribe(c, s); err != nil {
			b.log.Error("subscribe after connect failed", "filter", s.filter, "error", err)
		}
	}
}

func (b *Bus) subscribe(c mqtt.Client, s subscription) error {
	tok := c.Subscribe(s.filter, 1, s.handler)
	if !tok.WaitTimeout(b.cfg.RequestTimeout) {
		return fmt.Errorf("mosquitto: subscribe to %s: no answer within %s", s.filter, b.cfg.RequestTimeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mosquitto: subscribe to %s: %w", s.filter, err)
	}
	// A refused subscription is a SUBACK with 0x80, not an error.
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for _, code := range st.Result() {
			if code == 0x80 {
				return fmt.Errorf("mosquitto: the broker refused the subscription to %s: does the admin role allow it?", s.filter)
			}
		}
	}
	return nil
}

// SubscribeShared subscribes the share group to filter (a filter under
// rm/v1/, such as topics.AllHostsUpFilter): each message goes to one
// replica of the group. handler runs on the bus's one delivery goroutine,
// in order, and the message is acknowledged when it returns.
func (b *Bus) SubscribeShared(filter string, handler func(Message)) error {
	return b.add(b.client, &b.subs, "$share/"+b.cfg.ShareGroup+"/"+filter, handler)
}

// Observe subscribes this replica alone to filter (a filter under rm/v1/,
// such as topics.AllHostsStatusFilter), outside the share group: every
// replica that observes it gets each message. It is for what each replica
// keeps in memory (presence, live progress, the replies it waits for);
// the admin role must allow subscribing to filter itself
// (docs/external-broker.md). handler runs on the observing connection's
// one delivery goroutine, in order, beside the shared traffic's.
func (b *Bus) Observe(filter string, handler func(Message)) error {
	return b.add(b.obsClient, &b.obsSubs, filter, handler)
}

// add subscribes c to filter, and again after each of its reconnects.
func (b *Bus) add(c mqtt.Client, subs *[]subscription, filter string, handler func(Message)) error {
	if handler == nil {
		return errors.New("mosquitto: subscribe: nil handler")
	}
	s := subscription{
		filter: filter,
		handler: func(_ mqtt.Client, m mqtt.Message) {
			b.stats.received.Add(1)
			handler(Message{Topic: m.Topic(), Payload: m.Payload(), ClientID: clientOfTopic(m.Topic())})
		},
	}
	b.mu.Lock()
	*subs = append(*subs, s)
	b.mu.Unlock()
	return b.subscribe(c, s)
}

// clientOfTopic is the client a topic belongs to: the host of a host topic,
// the pending client of an announce topic.
func clientOfTopic(topic string) string {
	t, err := topics.Parse(topic)
	if err != nil {
		return ""
	}
	if t.Host != "" {
		return t.Host
	}
	return t.Client
}

// Publish publishes a message as the server and, for QoS 1 and 2, waits for
// the broker's acknowledgement.
func (b *Bus) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if topic == "" || strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("mosquitto: publish to %q: not a valid topic name", topic)
	}
	if qos > 2 {
		return fmt.Errorf("mosquitto: publish to %s: qos %d out of range", topic, qos)
	}
	tok := b.client.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(b.cfg.RequestTimeout) {
		b.stats.publishFailures.Add(1)
		return fmt.Errorf("mosquitto: publish to %s: not acknowledged within %s", topic, b.cfg.RequestTimeout)
	}
	if err := tok.Error(); err != nil {
		b.stats.publishFailures.Add(1)
		return fmt.Errorf("mosquitto: publish to %s: %w", topic, err)
	}
	b.stats.published.Add(1)
	return nil
}

// Serving reports whether the bus is connected to the broker (for
// /healthz): nil when it is.
func (b *Bus) Serving() error {
	if b.client.IsConnectionOpen() && b.obsClient.IsConnectionOpen() && b.ctlClient.IsConnectionOpen() {
		return nil
	}
	return fmt.Errorf("mosquitto: not connected to %s", b.cfg.URL.Redacted())
}

// Close disconnects from the broker. The bus is not used afterwards.
func (b *Bus) Close() error {
	if b.closing.Swap(true) {
		return nil
	}
	b.client.Disconnect(250)
	b.obsClient.Disconnect(250)
	b.ctlClient.Disconnect(250)
	b.ctl.closeAll()
	b.log.Info("disconnected from the broker")
	return nil
}

// Stats are the bus's counters since Connect.
type Stats struct {
	Published, PublishFailures, Received, ConnectionsLost uint64
	ControlRequests, ControlFailures                      uint64
}

type counters struct {
	published, publishFailures, received, connectionsLost atomic.Uint64
	controlRequests, controlFailures                      atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (b *Bus) Stats() Stats {
	return Stats{Published: b.stats.published.Load(), PublishFailures: b.stats.publishFailures.Load(),
		Received: b.stats.received.Load(), ConnectionsLost: b.stats.connectionsLost.Load(),
		ControlRequests: b.stats.controlRequests.Load(), ControlFailures: b.stats.controlFailures.Load()}
}
