// Package tlssession is the agent's TLS session cache, shared with the load
// generator so that a simulated fleet resumes its sessions as real agents do.
package tlssession

import (
	"crypto/tls"
	"sync"
)

// FailuresToDrop is how many failed handshakes in a row, each of which
// offered the cached session, make Cache drop it.
const FailuresToDrop = 3

// Cache keeps a session through a few failed handshakes. Go's TLS client
// drops the cached session whenever a handshake that offered it fails, for
// whatever reason — a connection reset or a timeout included (crypto/tls:
// "If we got a handshake failure when resuming a session, throw away the
// session ticket"). When a whole fleet reconnects after a server restart,
// the first attempts meet a full accept queue or the broker's handshake
// admission and are reset; every agent that was unlucky once then made a
// full handshake, which slowed the broker and made more agents unlucky
// (docs/scale.md, "The session's levers together"). A ticket the broker
// cannot use costs nothing to keep: the broker ignores it and makes a full
// handshake, which stores a new one. Only a corrupt session makes every
// handshake fail, and that one is dropped after FailuresToDrop failures in a
// row.
type Cache struct {
	inner  tls.ClientSessionCache
	mu     sync.Mutex
	failed map[string]int // failures since the session was stored, by key
}

// NewCache returns a Cache of at most capacity sessions (least recently
// used dropped first).
func NewCache(capacity int) *Cache {
	return &Cache{inner: tls.NewLRUClientSessionCache(capacity), failed: map[string]int{}}
}

// Get returns the cached session for key.
func (c *Cache) Get(key string) (*tls.ClientSessionState, bool) {
	return c.inner.Get(key)
}

// Put stores a new session, or counts a failure (cs == nil) and drops the
// session at the FailuresToDrop-th in a row.
func (c *Cache) Put(key string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs != nil {
		delete(c.failed, key)
		c.inner.Put(key, cs)
		return
	}
	if c.failed[key]++; c.failed[key] >= FailuresToDrop {
		delete(c.failed, key)
		c.inner.Put(key, nil)
	}
}
