package broker

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/restic-manager/restic-manager/topics"
)

// InlineClientID is Message.ClientID for messages the server published
// itself through Publish (mochi's inline client). No network client can have
// this ID: it has none of the identity prefixes.
const InlineClientID = mqtt.InlineClientId

// Message is one publish delivered to an inline subscription.
type Message struct {
	Topic   string
	Payload []byte // a copy; the handler may keep it
	// ClientID is the publishing client's ID (== its username), or
	// InlineClientID for the server's own publishes.
	ClientID string
	// Conn is the serial of the publishing client's connection, as reported
	// by Config.OnConnect; 0 for the server's own publishes. A Will carries
	// the serial of the connection that registered it, so a consumer can tell
	// a stale Will (from a connection already replaced) from a current one.
	Conn   uint64
	Retain bool
}

// Publish publishes a message as the server. The server's inline client is
// not subject to the ACL. MQTT delivery to subscribers is at most the
// subscription's QoS; qos must be 0, 1 or 2. Note that mochi acknowledges and
// delivers synchronously: inline handlers of matching subscriptions run
// before Publish returns.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if topic == "" || strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("broker: publish to %q: not a valid topic name", clip(topic))
	}
	if qos > 2 {
		return fmt.Errorf("broker: publish to %s: qos %d out of range", topic, qos)
	}
	if retain && agentsTopic(topic) {
		// Agents' subscriptions skip the retained look-up
		// (retainNotSent): a message retained here would never reach them.
		return fmt.Errorf("broker: publish to %s: an agent's topic is never retained", topic)
	}
	if retain && strings.HasPrefix(topic, monitorTree) && b.retainedAlready(topic, payload) {
		// The monitor feed is state: the same retained state again tells
		// no subscriber anything. Skipping it also keeps mochi from
		// rewriting its retained index while a subscriber's wildcard scan
		// reads it (a race in mochi v2.7.9's TopicsIndex: RetainMessage
		// writes a particle's retainPath that scanMessages reads unlocked).
		return nil
	}
	if retain && len(payload) > 0 && strings.HasPrefix(topic, monitorTree) {
		// Its deliveries to monitors are paced (monitor_replay.go).
		b.replays.publishing(topic, 1)
		defer b.replays.publishing(topic, -1)
	}
	if err := b.srv.Publish(topic, payload, retain, qos); err != nil {
		return fmt.Errorf("broker: publish to %s: %w", topic, err)
	}
	return nil
}

// Subscribe adds an inline subscription: handler is called for every message
// published to a topic matching filter, including retained ones at once. It
// runs on the publishing client's goroutine, so it must hand the message off
// quickly (DESIGN §3: to a bounded queue). A panic in handler is recovered,
// logged and counted; the publishing client is not disconnected.
func (b *Broker) Subscribe(filter string, handler func(Message)) error {
	if handler == nil {
		return errors.New("broker: subscribe: nil handler")
	}
	id := int(b.subID.Add(1))
	err := b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		b.deliverInline(handler, pk)
	})
	if err != nil {
		return fmt.Errorf("broker: subscribe to %q: %w", clip(filter), err)
	}
	return nil
}

func (b *Broker) deliverInline(handler func(Message), pk packets.Packet) {
	defer func() {
		if r := recover(); r != nil {
			b.stats.panics.Add(1)
			b.log.Error("recovered from a panic in an inline subscription handler", "topic", clip(pk.TopicName),
				"client", clip(pk.Origin), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	handler(Message{
		Topic:    pk.TopicName,
		Payload:  append([]byte(nil), pk.Payload...),
		ClientID: pk.Origin,
		Conn:     connFromTag(pk.Properties.User),
		Retain:   pk.FixedHeader.Retain,
	})
}

// Disconnect revokes a client now: its connection, if any, is closed and its
// session (subscriptions and queued messages) is discarded, so nothing queued
// for a revoked identity survives. An MQTT 5 client is first told
// "administrative action"; a 3.1.1 connection is just closed (3.1.1 has no
// server DISCONNECT). The usual OnDisconnect follows. Unknown IDs are ignored.
// Disconnect does not stop the client from connecting again: the
// Authenticator must refuse it from now on.
func (b *Broker) Disconnect(clientID string) {
	cl, ok := b.srv.Clients.Get(clientID)
	if !ok || cl.Net.Inline {
		return
	}
	b.log.Info("disconnecting client", "client", clip(clientID), "conn", serialOf(cl))
	if cl.Properties.ProtocolVersion == 5 {
		_ = b.srv.DisconnectClient(cl, packets.ErrAdministrativeAction)
	}
	cl.Stop(packets.ErrAdministrativeAction)

	cl.ClearInflights()
	b.srv.UnsubscribeClient(cl)
	if cur, ok := b.srv.Clients.Get(clientID); ok && cur == cl {
		b.srv.Clients.Delete(clientID)
	}
}

// monitorTree is the prefix of the monitor feed's topics.
const monitorTree = topics.Prefix + "/monitor/"

// retainedAlready says whether topic already retains exactly payload (for an
// empty payload: retains nothing).
func (b *Broker) retainedAlready(topic string, payload []byte) bool {
	pk, ok := b.srv.Topics.Retained.Get(topic)
	if !ok || len(pk.Payload) == 0 {
		return len(payload) == 0
	}
	return bytes.Equal(pk.Payload, payload)
}
