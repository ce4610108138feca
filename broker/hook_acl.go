package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// aclHook enforces the ACL (acl.go) on subscriptions, deliveries and
// publishes. It is the only hook providing OnACLCheck: mochi allows as soon as
// any hook says yes (hooks.go Hooks.OnACLCheck).
//
// Publishes are judged in OnPublish, not OnACLCheck. When OnACLCheck refuses
// a QoS 1/2 publish from an MQTT 3.1.1 client, mochi disconnects the client
// (server.go:867-873 processPublish: `if cl.Properties.ProtocolVersion != 5
// { return s.DisconnectClient(cl, packets.ErrNotAuthorized) }`), and paho would
// reconnect and resend the same message forever. OnPublish can instead
// answer packets.CodeSuccessIgnore, for which mochi still sends the PUBACK
// but delivers and retains nothing (server.go:918 sets pk.Ignore;
// publishToSubscribers and retainMessage skip ignored packets).
// packets.ErrRejectPacket would not do: mochi returns before the PUBACK
// (server.go:916), and paho would wait for it forever.
type aclHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *aclHook) ID() string { return "rm-acl" }

// Provides declares the events this hook handles.
func (h *aclHook) Provides(b byte) bool {
	return b == mqtt.OnACLCheck || b == mqtt.OnPublish || b == mqtt.OnSubscribed
}

// identityOf returns the identity of an authenticated client. It is derived
// from the username alone, which authHook checked equals the Authenticator's
// Identity; so it also works for a disconnected persistent session, whose
// queued messages are ACL-checked on delivery too.
func identityOf(cl *mqtt.Client) (Identity, bool) {
	id, err := ParseIdentity(string(cl.Properties.Username))
	return id, err == nil
}

// OnACLCheck answers for subscriptions (a filter) and deliveries (a topic
// name), write == false, with the allow-list of acl.go (subscribeHook has
// already refused any other filter before mochi saw it). For write == true
// it always allows: OnPublish is where publishes are judged (see the type's
// comment).
func (h *aclHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline || write {
		return true
	}
	id, ok := identityOf(cl)
	if !ok || !canSubscribe(id, topic) {
		return false
	}
	if id.Role == RoleMonitor && h.b.replays.pace(cl, id, topic) {
		return false // the replay sends it, paced by the client (monitor_replay.go)
	}
	return true
}

// OnPublish drops a publish to a topic the client may not publish to. The
// client stays connected and gets its acknowledgement: for MQTT 5 QoS 1 a
// PUBACK with reason "not authorized", otherwise a normal PUBACK/PUBREC (3.1.1
// has no negative PUBACK). Allowed publishes lose their retain flag: only the
// server retains messages, so a client cannot fill the broker's memory with
// retained topics in its own subtree.
func (h *aclHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	id, ok := identityOf(cl)
	if !ok || !canPublish(id, pk.TopicName) {
		h.b.stats.deniedPublishes.Add(1)
		h.b.log.Warn("publish denied; message dropped", "client", clip(cl.ID), "conn", serialOf(cl),
			"topic", clip(pk.TopicName), "qos", pk.FixedHeader.Qos, "bytes", len(pk.Payload))
		if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos == 1 {
			return pk, packets.ErrNotAuthorized
		}
		return pk, packets.CodeSuccessIgnore
	}
	pk.FixedHeader.Retain = false
	return pk, nil
}

// OnSubscribed counts and logs the filters a SUBACK refused, except those
// subscribeHook refused before mochi saw them (it counted and logged them).
func (h *aclHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	if cl.Net.Inline {
		return
	}
	for i, code := range reasonCodes {
		if code < packets.ErrUnspecifiedError.Code || i >= len(pk.Filters) || pk.Filters[i].Filter == refusedFilter {
			continue
		}
		h.b.stats.deniedSubscribes.Add(1)
		h.b.log.Warn("subscribe denied", "client", clip(cl.ID), "conn", serialOf(cl),
			"filter", clip(pk.Filters[i].Filter), "code", code)
	}
}
