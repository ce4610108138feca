package main

import (
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// simOutbox is a simulated agent's outbox, in memory: what the real agent
// keeps in its fsync'd outbox (agent/outbox) — job events, log batches and
// snapshot reports, each with a seq, published with QoS 1 and kept until
// the server names the seq in a down/ack. Everything unacknowledged is
// published again after each hello, when the server asks (ack.resend) and
// when it stays unacknowledged for resendAfter, as agent/sender.go does. A
// load generator's process does not outlive a run, so nothing is on disk.
type simOutbox struct {
	mu      sync.Mutex
	next    uint64
	entries map[uint64]*outEntry
}

// outEntry is one message waiting for its ack; onAck, when set, runs once
// when it comes (the job records when "delivered" and the end were stored).
type outEntry struct {
	topic   string
	payload []byte
	sentAt  time.Time
	onAck   func(at time.Time)
}

func newSimOutbox() *simOutbox { return &simOutbox{entries: map[uint64]*outEntry{}} }

// seq reserves the next sequence number.
func (o *simOutbox) seq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	return o.next
}

// high is the highest seq ever assigned (hello's outbox_high).
func (o *simOutbox) high() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next
}

// add keeps an entry and publishes it on client (nil: not connected now;
// it goes out after the next hello).
func (o *simOutbox) add(client mqtt.Client, seq uint64, topic string, payload []byte, onAck func(time.Time)) {
	e := &outEntry{topic: topic, payload: payload, onAck: onAck}
	o.mu.Lock()
	o.entries[seq] = e
	if client != nil {
		e.sentAt = time.Now()
	}
	o.mu.Unlock()
	if client != nil {
		client.Publish(topic, 1, false, payload)
	}
}

// ack drops the entries the server stored and runs their onAck.
func (o *simOutbox) ack(seqs []uint64) {
	now := time.Now()
	var hooks []func(time.Time)
	o.mu.Lock()
	for _, s := range seqs {
		if e, ok := o.entries[s]; ok {
			delete(o.entries, s)
			if e.onAck != nil {
				hooks = append(hooks, e.onAck)
			}
		}
	}
	o.mu.Unlock()
	for _, h := range hooks {
		h(now)
	}
}

// republish publishes again, in seq order, every entry last sent before
// olderThan (time.Now() or later: all of them).
func (o *simOutbox) republish(client mqtt.Client, olderThan time.Time) int {
	o.mu.Lock()
	seqs := make([]uint64, 0, len(o.entries))
	for s, e := range o.entries {
		if e.sentAt.Before(olderThan) {
			seqs = append(seqs, s)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	out := make([]*outEntry, len(seqs))
	now := time.Now()
	for i, s := range seqs {
		out[i] = o.entries[s]
		out[i].sentAt = now
	}
	o.mu.Unlock()
	for _, e := range out {
		client.Publish(e.topic, 1, false, e.payload)
	}
	return len(out)
}

// pending counts the entries not yet acknowledged.
func (o *simOutbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries)
}
