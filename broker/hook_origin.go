package broker

import (
	"strconv"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connTagKey is the MQTT 5 user property in which a client's publishes and
// Will carry the serial of the connection they came from, from the moment the
// broker accepts them until the inline subscription adapter reads it
// (Message.Conn).
//
// Why a property: an inline handler is called with the inline client, not the
// publisher (server.go publishToSubscribers), and a Will is published by
// mochi after the connection is gone (sendLWT), possibly while a newer
// connection of the same client ID already owns the session. Looking the
// client ID up at delivery time would give a stale Will the new connection's
// serial, which is exactly what the serial exists to prevent. The property
// travels with the packet. Any value a client sent itself is replaced. Under
// the ACL, only the inline client can ever receive a client's publishes or
// Will, so the property does not leak to other clients.
const connTagKey = "rm-conn"

// discardTopic is where a Will goes while the broker closes (originHook.OnWill).
const discardTopic = "$rm/discard"

// originHook stamps client publishes and Wills with their connection serial.
// It runs after aclHook, so denied publishes are never stamped.
type originHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *originHook) ID() string { return "rm-origin" }

// Provides declares the events this hook handles.
func (h *originHook) Provides(b byte) bool { return b == mqtt.OnPublish || b == mqtt.OnWill }

// OnPublish stamps a client publish with its connection serial.
func (h *originHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	pk.Properties.User = withConnTag(pk.Properties.User, serialOf(cl))
	return pk, nil
}

// OnWill stamps a Will with the serial of the connection that registered it,
// and makes sure it is not retained (see authHook).
//
// Once the broker is closing, a Will goes to discardTopic, which no
// subscription matches (no client may subscribe to a $ topic, and top-level
// wildcards never match one): the broker is closing because its server stops, not because the
// client failed, and the server, the Wills' only reader, hears of every
// disconnect anyway (Config.OnDisconnect). With a fleet connected, the Wills
// were an ACL check and an inline delivery per agent on the way out, for a
// server that then stores the same "offline" again. (Clearing the client's
// Will flag instead raced with mochi reading the Will of a client that was
// disconnecting by itself at that moment.)
func (h *originHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if h.b != nil && h.b.closing.Load() {
		will.TopicName = discardTopic
		will.Retain = false
		return will, nil
	}
	will.User = withConnTag(will.User, serialOf(cl))
	will.Retain = false
	return will, nil
}

// withConnTag returns a new property list: user without any connTagKey
// entries, plus ours.
func withConnTag(user []packets.UserProperty, serial uint64) []packets.UserProperty {
	out := make([]packets.UserProperty, 0, len(user)+1)
	for _, p := range user {
		if p.Key != connTagKey {
			out = append(out, p)
		}
	}
	return append(out, packets.UserProperty{Key: connTagKey, Val: strconv.FormatUint(serial, 10)})
}

// connFromTag reads the serial stamped by withConnTag (0 when absent).
func connFromTag(user []packets.UserProperty) uint64 {
	for i := len(user) - 1; i >= 0; i-- {
		if user[i].Key == connTagKey {
			n, err := strconv.ParseUint(user[i].Val, 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}
