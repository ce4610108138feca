package broker

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Limits on the filters of a network client's SUBSCRIBE and UNSUBSCRIBE. Our
// topic tree is at most 7 levels deep (rm/v1/hosts/{h}/up/job/{j}/progress)
// and every filter a client may use is short, so these only bite on abuse.
const (
	// MaxFilterLength is the longest filter, in bytes.
	MaxFilterLength = 256
	// MaxFilterLevels is the most levels a filter may have.
	MaxFilterLevels = 8
	// MaxFiltersPerPacket is the most filters one SUBSCRIBE or UNSUBSCRIBE
	// may carry; beyond it every filter of the packet is refused.
	MaxFiltersPerPacket = 8
	// MaxSubscriptionsPerClient is the most subscriptions one client's
	// session may hold (a host needs one, a monitor a few).
	MaxSubscriptionsPerClient = 16
)

// refusedFilter replaces, before mochi sees the packet, every filter of a
// SUBSCRIBE or UNSUBSCRIBE that subscribeHook refuses. It is a valid filter
// that no client may subscribe to (canSubscribe), so mochi answers it with a
// SUBACK failure code, and that no subscription can exist on, so an
// UNSUBACK says "no subscription existed". It is two short levels: mochi's
// topic index does no work for it.
const refusedFilter = "$rm/refused"

// retainNotSent is MQTT 5's Retain Handling 2, "do not send retained
// messages at the time of the subscribe", which mochi honours whatever the
// client's protocol version (server.go publishRetainedToClient). The
// subscribe hook sets it on every filter of a network client. A monitor
// still gets the retained messages its filters ask for, from the broker's
// own replay, paced by its connection (monitor_replay.go): mochi would put
// them all into its write queue at once and drop what does not fit. For a
// host or pending client nothing is retained on their topics
// (Broker.Publish refuses it), so the
// look-up could only find nothing — and it was not free: mochi walks its
// topic index recursively with a packets.Packet in each frame, which made
// every agent's read-loop goroutine grow (copy) its stack once more at its
// SUBSCRIBE. In a restart storm of 1,000 agents that walk was 13 % of the
// server's CPU, most of it the stack copies.
const retainNotSent = 2

// subscribeHook checks every filter of a network client's SUBSCRIBE and
// UNSUBSCRIBE against the limits above and the ACL's allow-list, in
// OnPacketRead: mochi calls it right after decoding the packet
// (clients.go ReadPacket), before processSubscribe builds anything in its
// topic index (server.go processSubscribe → Topics.Subscribe → set, which
// creates one node per level and costs quadratic time in the levels). By
// OnSubscribe or OnACLCheck the packet would be past the same point, but
// refusing per filter there would leave the limits spread over two hooks.
//
// A refused filter is replaced with refusedFilter, and mochi's own ACL check
// answers it with a SUBACK failure code (MQTT 3.1.1: 0x80, MQTT 5: 0x87 not
// authorized). The client stays connected: a disconnect would make a 3.1.1
// client that resubscribes on reconnect (paho's default) loop, while a
// failure code is an answer it accepts. Returning packets.ErrRejectPacket
// would disconnect it.
type subscribeHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *subscribeHook) ID() string { return "rm-subscribe" }

// Provides declares the single event this hook handles.
func (h *subscribeHook) Provides(b byte) bool { return b == mqtt.OnPacketRead }

// OnPacketRead replaces the refused filters of a SUBSCRIBE or UNSUBSCRIBE
// with refusedFilter; every other packet passes unchanged.
func (h *subscribeHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	kind := pk.FixedHeader.Type
	if cl.Net.Inline || (kind != packets.Subscribe && kind != packets.Unsubscribe) {
		return pk, nil
	}
	id, known := identityOf(cl)
	held := cl.State.Subscriptions.GetAll()
	count := len(held)
	filters := make(packets.Subscriptions, len(pk.Filters))
	copy(filters, pk.Filters)
	refused, firstReason, firstFilter := 0, "", ""
	noRetained := kind == packets.Subscribe && known
	var replay []packets.Subscription // a monitor's filters wanting the retained messages
	for i, f := range filters {
		if noRetained {
			_, existed := held[f.Filter]
			if id.Role == RoleMonitor && (f.RetainHandling == 0 || f.RetainHandling == 1 && !existed) {
				replay = append(replay, f)
			}
			filters[i].RetainHandling = retainNotSent
		}
		reason := ""
		switch {
		case len(filters) > MaxFiltersPerPacket:
			reason = "too many filters in one packet"
		case len(f.Filter) > MaxFilterLength:
			reason = "filter too long"
		case strings.Count(f.Filter, "/") >= MaxFilterLevels:
			reason = "filter too deep"
		case kind == packets.Unsubscribe:
			// Within the limits, anything may be unsubscribed: at worst
			// mochi answers "no subscription existed".
		case !known || !canSubscribe(id, f.Filter):
			reason = "filter not allowed for this client"
		default:
			if _, ok := held[f.Filter]; ok {
				break // replaces a subscription the client holds
			}
			if count >= MaxSubscriptionsPerClient {
				reason = "too many subscriptions"
				break
			}
			count++
			held[f.Filter] = f
		}
		if reason == "" {
			continue
		}
		if refused == 0 {
			firstReason, firstFilter = reason, f.Filter
		}
		refused++
		filters[i].Filter = refusedFilter
	}
	if len(replay) > 0 {
		h.b.replays.ask(cl, id, replay)
	}
	if !noRetained && refused == 0 {
		return pk, nil
	}
	pk.Filters = filters
	if refused == 0 {
		return pk, nil
	}
	what := "subscribe refused"
	if kind == packets.Subscribe {
		h.b.stats.deniedSubscribes.Add(uint64(refused))
	} else {
		what = "unsubscribe refused"
	}
	h.b.log.Warn(what, "client", clip(cl.ID), "conn", serialOf(cl), "refused", refused, "of", len(filters),
		"reason", firstReason, "filter", clip(firstFilter), "filter_bytes", len(firstFilter))
	return pk, nil
}
