package server

import (
	"crypto/subtle"
	"sync"
	"time"
)

// MQTT credentials the store verified, kept in memory so that a reconnect
// storm authenticates without a query per CONNECT (docs/DECISIONS.md,
// "#15: verified MQTT credentials in memory").
//
//   - What is kept: per username, the SHA-256 digest of the secret that
//     passed (what the database holds, never the secret) and the kind of
//     client. A CONNECT presenting a secret whose digest equals it is
//     accepted without the store; any other secret goes to the store, and
//     a refusal is never cached (the broker's per-address failure limit
//     deals with guessing).
//   - Invalidation: whatever stops a secret from working (RevokeHost, a
//     host's secret replaced when it is accepted again after an announce)
//     drops the username after its transaction committed. A lookup that
//     read the store before that commit could otherwise put the old secret
//     back: every drop bumps a generation, and a lookup stores its result
//     only if the generation is still the one it started with.
//   - Bounds: at most credCacheMax usernames (one more evicts an arbitrary
//     one, which only costs it a query at its next CONNECT), each trusted
//     for credCacheTTL after the store said yes, so even a change this
//     process did not make (none exists today) is seen within that time.
const (
	credCacheMax = 20_000
	credCacheTTL = 10 * time.Minute
)

type credCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]credEntry
	now func() time.Time
}

type credEntry struct {
	digest []byte
	kind   MQTTKind
	until  time.Time
}

func newCredCache(now func() time.Time) *credCache {
	return &credCache{m: make(map[string]credEntry), now: now}
}

// lookup returns the kind of username when digest is the one the store
// verified for it, and otherwise the generation a store lookup must pass
// to store.
func (c *credCache) lookup(username string, digest []byte) (kind MQTTKind, hit bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[username]
	if ok && c.now().Before(e.until) && subtle.ConstantTimeCompare(e.digest, digest) == 1 {
		return e.kind, true, c.gen
	}
	return 0, false, c.gen
}

// store remembers that the store accepted digest for username, unless an
// invalidation happened since gen was read.
func (c *credCache) store(username string, digest []byte, kind MQTTKind, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.m[username]; !ok && len(c.m) >= credCacheMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[username] = credEntry{digest: digest, kind: kind, until: c.now().Add(credCacheTTL)}
}

// forget drops username; call it after the change that stops its secret
// from working has committed.
func (c *credCache) forget(username string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, username)
}
