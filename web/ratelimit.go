package web

import (
	"sync"
	"time"
)

// rateLimiter is a token bucket per key (a client address): each key may
// spend `burst` attempts at once and earns them back at burst per `per`.
//
// The enroll endpoint spends an attempt before it looks at the token and
// refunds it when the enrollment succeeds, so only failures count: guessing
// tokens is slow, while a whole site behind one NAT address can still
// enroll a hundred machines in a minute.
type rateLimiter struct {
	mu      sync.Mutex
	burst   float64
	perSec  float64 // refill rate
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds memory under a flood from many addresses: past it, full
// (idle) buckets are forgotten, which loses nothing.
const maxBuckets = 10000

func newRateLimiter(burst int, per time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{
		burst:   float64(burst),
		perSec:  float64(burst) / per.Seconds(),
		now:     now,
		buckets: make(map[string]*bucket),
	}
}

// allow spends one attempt for key and reports whether it had one.
func (l *rateLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back an attempt spent by allow.
func (l *rateLimiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	b.tokens = min(l.burst, b.tokens+1)
}

// refill brings key's bucket up to date; l.mu must be held.
func (l *rateLimiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed*l.perSec)
	}
	b.at = now
	return b
}

// prune forgets buckets that have refilled completely.
func (l *rateLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.perSec >= l.burst {
			delete(l.buckets, k)
		}
	}
}
