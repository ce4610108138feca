package broker

import mqtt "github.com/mochi-mqtt/server/v2"

// Exports for the black-box tests in package broker_test: they start a
// real broker with brokertest.StaticAuth, which imports this package, so
// they cannot be in it. Only tests are compiled with this file.

// ConnTagKey is the user property the broker stamps a client's connection
// serial in (a client's own is dropped).
const ConnTagKey = connTagKey

// The ACL's filter rules and mochi's log filter, checked on their own.
var (
	FilterWithin     = filterWithin
	PublishFilters   = publishFilters
	SubscribeFilters = subscribeFilters
	NewMochiLogger   = newMochiLogger
)

// Mochi is the embedded mochi server, for its clients and topics.
func (b *Broker) Mochi() *mqtt.Server { return b.srv }

// Capabilities returns a copy of what the embedded mochi server runs with,
// to check the configuration was applied.
func (b *Broker) Capabilities() mqtt.Capabilities { return *b.srv.Options.Capabilities }

// EffectiveConfig is the configuration New kept, defaults applied.
func (b *Broker) EffectiveConfig() Config { return b.cfg }

// PendingSlotsTaken is how many pending clients hold a slot now.
func (b *Broker) PendingSlotsTaken() int {
	p := b.pendingSlots
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// ReplaysActive is how many monitors have a retained replay queued or
// running (monitor_replay.go).
func (b *Broker) ReplaysActive() int { return int(b.replays.active.Load()) }
