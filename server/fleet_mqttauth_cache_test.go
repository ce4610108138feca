package server

import (
	"fmt"
	"testing"
	"time"
)

// A lookup that read the store before a revocation committed must not put
// the old secret back into the cache after the revocation dropped it.
func TestCredCacheKeepsNoLookupThatRacedARevocation(t *testing.T) {
	c := newCredCache(time.Now)
	digest := tokenHash("secret")
	_, hit, gen := c.lookup("h_a", digest) // a CONNECT starts; it reads the store next
	if hit {
		t.Fatal("hit in an empty cache")
	}
	c.forget("h_a") // the revocation commits meanwhile
	c.store("h_a", digest, MQTTHost, gen)
	if _, hit, _ := c.lookup("h_a", digest); hit {
		t.Fatal("a store lookup older than the revocation was cached")
	}
	_, _, gen = c.lookup("h_a", digest)
	c.store("h_a", digest, MQTTHost, gen)
	if k, hit, _ := c.lookup("h_a", digest); !hit || k != MQTTHost {
		t.Fatal("a lookup after the revocation was not cached")
	}
	if _, hit, _ := c.lookup("h_a", tokenHash("other")); hit {
		t.Fatal("another secret matched the cached one")
	}
}

// The cache holds at most credCacheMax usernames, each for credCacheTTL.
func TestCredCacheIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCredCache(func() time.Time { return now })
	for i := range credCacheMax + 10 {
		_, _, gen := c.lookup(fmt.Sprint(i), nil)
		c.store(fmt.Sprint(i), tokenHash(fmt.Sprint(i)), MQTTHost, gen)
	}
	if len(c.m) != credCacheMax {
		t.Fatalf("%d usernames cached, want at most %d", len(c.m), credCacheMax)
	}
	last := fmt.Sprint(credCacheMax + 9)
	if _, hit, _ := c.lookup(last, tokenHash(last)); !hit {
		t.Fatal("the newest username was evicted")
	}
	now = now.Add(credCacheTTL)
	if _, hit, _ := c.lookup(last, tokenHash(last)); hit {
		t.Fatal("a verification older than the TTL was trusted")
	}
}
