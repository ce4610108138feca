package broker

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// replayWindow is the most QoS 1/2 messages a replay leaves unacknowledged
// with a client (live ones included) before it waits for a PUBACK. It stays
// well under mochi's MaximumInflight, beyond which mochi would drop a live
// delivery to that client.
const replayWindow = 256

// errReplayStopped ends a replay: its client went.
var errReplayStopped = errors.New("broker: the client of a retained replay went")

// The retained monitor feed reaches a monitor whole. Mochi answers a
// SUBSCRIBE with every matching retained message at once, each into the
// client's write queue (server.go publishRetainedToClient → publishToClient),
// which holds Config.MaxClientWritesPending packets: on a fleet of more
// hosts than that, a monitor subscribing to rm/v1/monitor/# got the first
// ~1,024 host states and the rest were dropped until the next republish.
// So a monitor's filters are stored with Retain Handling 2 as well
// (hook_subscribe.go), and the broker replays the retained messages itself,
// one at a time with Client.WritePacket, which writes to the socket under
// the connection's lock: the replay goes as fast as the client reads, and
// no queue grows for it.
//
// Bounds: one replay goroutine per client at a time; a SUBSCRIBE while it
// runs adds its filters to the replay's queue, once per filter, so a
// monitor subscribing over and over makes at most one more pass per filter
// (at most MaxSubscriptionsPerClient), each paced by its own reading; while
// it does not read, its next packets' answers wait behind the replay's
// write. It holds the matching topic names of one filter at a time (a pass
// starts with a copy of mochi's retained map, dropped once the names are
// read), and the paced topics not yet sent. It stops when the client goes
// (OnDisconnect) or a write fails.
//
// Order: a live update published during the replay must never be
// overwritten by an older retained copy. Each topic is sent as it is
// retained at the moment of sending (not as it was when the replay began),
// and read again once written: when the retained payload changed (or was
// cleared) between the read and the end of the write, a live copy of the
// newer state may have gone to the client before the replay's write, so
// the replay sends the topic again as it is now (a cleared one as an empty
// message), until a send ends with the state it wrote still retained.
// Mochi retains a message before it delivers it (server.go
// processPublish), and for one topic the server publishes one at a time,
// so a live copy of a newer state is always one the second read sees; the
// last copy on the wire is the one retained last. The second read is
// skipped when mochi retained nothing at all meanwhile (OnRetainMessage,
// which it calls after storing a retained message and before delivering
// it, counts in retains). A topic whose state did not change is sent once
// per pass: a retained message reaches the client
// once per SUBSCRIBE whose filter matches it, as MQTT has it. (It once
// counted the live deliveries in aclHook.OnACLCheck instead; mochi calls
// that for a SUBSCRIBE's filters too, and a SUBSCRIBE of a topic name
// during the replay made it send that topic once more.)
//
// Paced publishes. A retained state the server publishes on the monitor
// tree (Broker.Publish) reaches a connected monitor the same way: mochi's
// delivery asks aclHook.OnACLCheck, which hands the topic to the client's
// replay (pace) and answers no, so nothing goes into the write queue. The
// replay sends the topic's retained state as a live delivery (the retain
// flag as mochi would set it), once however often it was published while
// waiting. So the 6-hourly republish of a fleet's states and a storm's
// thousands of presence changes reach a monitor whole, as fast as it
// reads, and the write queue (Config.MaxClientWritesPending) holds only
// the agents' few packets and the monitor events. An empty retained
// publish (a state or a discovery config cleared) is delivered as before:
// it must reach the monitor, and there is no retained state to send.
type replays struct {
	b      *Broker
	active atomic.Int32 // len(byClient): the live path's fast check
	// retains counts the messages mochi retained (or cleared): a replay
	// that saw it unchanged over a write need not read the topic again.
	retains atomic.Uint64
	mu      sync.Mutex
	byCl    map[*mqtt.Client]*replay
	// pacing counts the Publish calls delivering each topic's retained
	// state now: their deliveries to monitors are paced.
	pacing map[string]int
}

// replay is one monitor client's replay; its fields are guarded by
// replays.mu.
type replay struct {
	cl      *mqtt.Client
	id      Identity
	asked   []packets.Subscription // this SUBSCRIBE's filters wanting the retained messages
	queue   []packets.Subscription // granted filters waiting for a pass
	running bool
	room    chan struct{} // an acknowledgement came: maybe room in the window
	done    chan struct{} // closed when the client goes
	// pending are the topics published (paced) and not yet sent, in the
	// order they were first published.
	pending map[string]struct{}
	order   []string
}

func newReplays(b *Broker) *replays {
	return &replays{b: b, byCl: make(map[*mqtt.Client]*replay), pacing: make(map[string]int)}
}

// entry returns cl's replay, creating it; r.mu must be held.
func (rs *replays) entry(cl *mqtt.Client, id Identity) *replay {
	r := rs.byCl[cl]
	if r == nil {
		r = &replay{cl: cl, id: id, room: make(chan struct{}, 1), done: make(chan struct{}), pending: make(map[string]struct{})}
		rs.byCl[cl] = r
		rs.active.Add(1)
	}
	return r
}

// ask records, at a monitor's SUBSCRIBE (before mochi processes it), the
// filters for which the client wants the retained messages: MQTT 5's Retain
// Handling 0, or 1 for a new subscription.
func (rs *replays) ask(cl *mqtt.Client, id Identity, subs []packets.Subscription) {
	if len(subs) == 0 {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.entry(cl, id)
	r.asked = append(r.asked[:0], subs...)
}

// granted moves the asked filters that the SUBACK granted to the queue
// (once per filter). It runs before mochi writes the SUBACK.
func (rs *replays) granted(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if rs.active.Load() == 0 {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.byCl[cl]
	if r == nil {
		return
	}
	for _, a := range r.asked {
		for i, f := range pk.Filters {
			if f.Filter != a.Filter || i >= len(codes) || codes[i] >= packets.ErrUnspecifiedError.Code {
				continue
			}
			queued := false
			for j, q := range r.queue {
				if q.Filter == a.Filter {
					r.queue[j], queued = a, true
				}
			}
			if !queued {
				r.queue = append(r.queue, a)
			}
			break
		}
	}
	r.asked = r.asked[:0]
	rs.startPaced(r)
	rs.endIfIdle(r)
}

// subackSent starts cl's replay once its SUBACK is on the wire, so the
// retained messages come after it, as they did from mochi.
func (rs *replays) subackSent(cl *mqtt.Client) {
	if rs.active.Load() == 0 {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.byCl[cl]
	if r == nil || r.running || len(r.queue) == 0 {
		return
	}
	r.running = true
	go rs.run(r)
}

// startPaced starts r's replay for its paced topics, unless it runs or a
// pass waits for its SUBACK (subackSent starts it, paced topics included);
// rs.mu must be held.
func (rs *replays) startPaced(r *replay) {
	if r.running || len(r.order) == 0 || len(r.queue) > 0 || len(r.asked) > 0 {
		return
	}
	r.running = true
	go rs.run(r)
}

// endIfIdle forgets r when it has nothing to do; rs.mu must be held.
func (rs *replays) endIfIdle(r *replay) {
	if r.running || len(r.queue) > 0 || len(r.asked) > 0 || len(r.order) > 0 || rs.byCl[r.cl] != r {
		return
	}
	delete(rs.byCl, r.cl)
	rs.active.Add(-1)
}

// gone stops cl's replay: the client disconnected.
func (rs *replays) gone(cl *mqtt.Client) {
	if rs.active.Load() == 0 {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r := rs.byCl[cl]; r != nil {
		close(r.done)
		delete(rs.byCl, cl)
		rs.active.Add(-1)
	}
}

// publishing marks topic's retained state as being published (delta 1)
// or no longer (-1) by Broker.Publish: its deliveries to monitors are
// paced meanwhile.
func (rs *replays) publishing(topic string, delta int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.pacing[topic] += delta; rs.pacing[topic] <= 0 {
		delete(rs.pacing, topic)
	}
}

// pace takes mochi's delivery of topic to the monitor cl when it is a
// paced publish's: the replay sends it, and mochi must not queue it. A
// client not connected (a persistent session away) keeps mochi's way:
// its QoS 1 messages wait in the session.
func (rs *replays) pace(cl *mqtt.Client, id Identity, topic string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.pacing[topic] == 0 || cl.Closed() {
		return false
	}
	r := rs.entry(cl, id)
	if _, ok := r.pending[topic]; !ok {
		r.pending[topic] = struct{}{}
		r.order = append(r.order, topic)
	}
	rs.startPaced(r)
	return true
}

// acked wakes cl's replay if it waits for room in its window.
func (rs *replays) acked(cl *mqtt.Client) {
	if rs.active.Load() == 0 {
		return
	}
	rs.mu.Lock()
	r := rs.byCl[cl]
	rs.mu.Unlock()
	if r != nil {
		select {
		case r.room <- struct{}{}:
		default:
		}
	}
}

// next pops r's next filter (a pass), else its next paced topic, or ends
// the replay when neither is left or the client went.
func (rs *replays) next(r *replay) (sub packets.Subscription, paced string, ok bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	select {
	case <-r.done:
		r.queue, r.order = nil, nil
		clear(r.pending)
	default:
	}
	switch {
	case len(r.queue) > 0:
		sub = r.queue[0]
		r.queue = r.queue[1:]
		return sub, "", true
	case len(r.order) > 0:
		paced = r.order[0]
		r.order = r.order[1:]
		delete(r.pending, paced)
		return sub, paced, true
	}
	r.running = false
	r.order = nil // its array may hold a fleet's names
	rs.endIfIdle(r)
	return sub, "", false
}

// stop drops what r has left to send: its client went.
func (rs *replays) stop(r *replay) {
	rs.mu.Lock()
	r.queue, r.order = r.queue[:0], nil
	clear(r.pending)
	rs.mu.Unlock()
}

func (rs *replays) run(r *replay) {
	defer func() {
		if p := recover(); p != nil {
			rs.b.stats.panics.Add(1)
			rs.b.log.Error("recovered from a panic in a retained replay; replay stopped", "client", clip(r.cl.ID),
				"conn", serialOf(r.cl), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rs.mu.Lock()
			r.running, r.queue = false, nil
			rs.endIfIdle(r)
			rs.mu.Unlock()
		}
	}()
	for {
		sub, paced, ok := rs.next(r)
		if !ok {
			return
		}
		if paced != "" {
			if sub, ok = subscriptionFor(r.cl, paced); !ok {
				continue // unsubscribed meanwhile
			}
			if err := rs.send(r, sub, paced, true); err != nil {
				rs.b.log.Debug("paced delivery stopped", "client", clip(r.cl.ID), "conn", serialOf(r.cl), "error", err)
				rs.stop(r)
			}
			continue
		}
		names := rs.retainedTopics(sub.Filter)
		for _, topic := range names {
			if err := rs.send(r, sub, topic, false); err != nil {
				rs.b.log.Debug("retained replay stopped", "client", clip(r.cl.ID), "conn", serialOf(r.cl), "error", err)
				rs.stop(r)
				break
			}
			rs.b.stats.retainedReplayed.Add(1)
		}
	}
}

// subscriptionFor is cl's subscription that a delivery of topic goes by,
// as mochi merges them (TopicsIndex.Subscribers): the highest QoS, with
// every matching subscription's identifier.
func subscriptionFor(cl *mqtt.Client, topic string) (packets.Subscription, bool) {
	var out packets.Subscription
	found := false
	for _, s := range cl.State.Subscriptions.GetAll() {
		if !filterWithin(topic, s.Filter) {
			continue
		}
		if !found || s.Qos > out.Qos {
			ids, rap := out.Identifiers, out.RetainAsPublished
			out = s
			out.Identifiers, out.RetainAsPublished = ids, rap || s.RetainAsPublished
		}
		out.RetainAsPublished = out.RetainAsPublished || s.RetainAsPublished
		if s.Identifier > 0 {
			if out.Identifiers == nil {
				out.Identifiers = make(map[string]int)
			}
			out.Identifiers[s.Filter] = s.Identifier
		}
		found = true
	}
	return out, found
}

// retainedTopics returns the topics with a retained message that filter
// matches. It reads mochi's retained map under its lock rather than
// Topics.Messages: that walks the topic index recursively, copying every
// message into a growing slice (9 µs a state at 10,000, a third of a
// replay's CPU), and reads a particle's retainPath unlocked (see
// Broker.Publish).
func (rs *replays) retainedTopics(filter string) []string {
	all := rs.b.srv.Topics.Retained.GetAll()
	names := make([]string, 0, len(all))
	for name := range all {
		if filterWithin(name, filter) { // a topic name is a filter matching only itself
			names = append(names, name)
		}
	}
	return names
}

// send writes topic's retained state to r's client, again while the
// state changed during the write (see replays). live: a paced publish's
// delivery, not a replay of the retained message.
func (rs *replays) send(r *replay, sub packets.Subscription, topic string, live bool) error {
	if !canSubscribe(r.id, topic) { // aclHook.OnACLCheck's rule for a delivery
		return nil
	}
	var sent packets.Packet // the state last written
	for wrote := false; ; wrote = true {
		retains := rs.retains.Load()
		pk, ok := rs.b.srv.Topics.Retained.Get(topic)
		if !ok || len(pk.Payload) == 0 {
			if !wrote {
				return nil // not retained (any more): nothing to send
			}
			// Cleared after the read: mochi's live delivery of the clear
			// may have gone before the state just written.
			sent.Payload = nil
			return rs.write(r, sub, sent, live)
		}
		if wrote && bytes.Equal(pk.Payload, sent.Payload) {
			return nil // still the state written: no newer one went before it
		}
		if err := rs.write(r, sub, pk, live); err != nil {
			return err
		}
		if rs.retains.Load() == retains {
			return nil // nothing retained since the read: no newer state went before it
		}
		sent = pk
	}
}

// write sends one retained message as mochi's publishToClient would for a
// retained delivery (FwdRetainedFlag: the retain flag kept), or with live
// for a live one (the flag kept only for an MQTT 5 subscription with
// Retain As Published), with the subscription's QoS and identifiers. A
// QoS 1/2 message takes a packet ID and an inflight slot, which the
// client's acknowledgement frees through mochi's own handling, and waits
// for room in replayWindow.
func (rs *replays) write(r *replay, sub packets.Subscription, pk packets.Packet, live bool) error {
	s := rs.b.srv
	out := pk.Copy(false)
	out.FixedHeader.Retain = !live || (r.cl.Properties.ProtocolVersion == 5 && sub.RetainAsPublished)
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false
	switch {
	case len(sub.Identifiers) > 0:
		out.Properties.SubscriptionIdentifier = slices.Sorted(maps.Values(sub.Identifiers))
	case sub.Identifier > 0:
		out.Properties.SubscriptionIdentifier = []int{sub.Identifier}
	}
	out.FixedHeader.Qos = min(out.FixedHeader.Qos, sub.Qos, s.Options.Capabilities.MaximumQos)
	cl := r.cl
	if out.FixedHeader.Qos > 0 {
		id, err := rs.packetID(r)
		if err != nil {
			return err
		}
		out.PacketID = id
		cl.State.Inflight.Set(out)
		atomic.AddInt64(&s.Info.Inflight, 1)
		cl.State.Inflight.DecreaseSendQuota()
	}
	err := cl.WritePacket(out)
	if err == nil {
		return nil
	}
	if out.FixedHeader.Qos > 0 && cl.State.Inflight.Delete(out.PacketID) {
		cl.State.Inflight.IncreaseSendQuota()
		atomic.AddInt64(&s.Info.Inflight, -1)
	}
	if cl.Closed() {
		return errReplayStopped
	}
	return nil // this message could not be encoded for the client (too large): skip it
}

// packetID waits for room in the window and a free packet ID.
func (rs *replays) packetID(r *replay) (uint16, error) {
	window := min(replayWindow, int(rs.b.srv.Options.Capabilities.MaximumInflight)/2)
	if rm := int(r.cl.Properties.Props.ReceiveMaximum); r.cl.Properties.ProtocolVersion == 5 && rm > 0 {
		window = min(window, rm)
	}
	for {
		if r.cl.State.Inflight.Len() < max(window, 1) {
			if id, err := r.cl.NextPacketID(); err == nil {
				return uint16(id), nil
			}
		}
		select {
		case <-r.room:
		case <-r.done:
			return 0, errReplayStopped
		}
	}
}

// replayHook feeds the replays the events of mochi they follow.
type replayHook struct {
	mqtt.HookBase
	rs *replays
}

// ID names the hook in mochi's logs.
func (h *replayHook) ID() string { return "rm-retained-replay" }

// Provides declares the events this hook handles.
func (h *replayHook) Provides(b byte) bool {
	return b == mqtt.OnSubscribed || b == mqtt.OnPacketSent || b == mqtt.OnQosComplete || b == mqtt.OnDisconnect ||
		b == mqtt.OnRetainMessage
}

// OnSubscribed queues the granted filters that asked for a replay.
func (h *replayHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	h.rs.granted(cl, pk, codes)
}

// OnPacketSent starts a queued replay after the SUBACK.
func (h *replayHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Suback {
		h.rs.subackSent(cl)
	}
}

// OnQosComplete wakes a replay waiting for room in its window.
func (h *replayHook) OnQosComplete(cl *mqtt.Client, _ packets.Packet) { h.rs.acked(cl) }

// OnRetainMessage counts a message retained or cleared (see replays.send).
func (h *replayHook) OnRetainMessage(*mqtt.Client, packets.Packet, int64) { h.rs.retains.Add(1) }

// OnDisconnect stops the client's replay.
func (h *replayHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) { h.rs.gone(cl) }
