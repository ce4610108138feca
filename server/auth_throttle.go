package server

import (
	"sync"
	"time"
)

// throttle counts failures per key in a fixed window; once a key reaches max
// failures it is blocked until its window ends. Memory is bounded by pruning
// expired keys as it goes.
type throttle struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	keys   map[string]*throttleEntry
}

type throttleEntry struct {
	count int
	start time.Time
}

func newThrottle(max int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{max: max, window: window, now: now, keys: make(map[string]*throttleEntry)}
}

// blockedFor reports how long key stays blocked, having used up its
// failures in the current window: 0 when it is not blocked.
func (t *throttle) blockedFor(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.keys[key]
	if !ok {
		return 0
	}
	left := e.start.Add(t.window).Sub(t.now())
	if left <= 0 {
		delete(t.keys, key)
		return 0
	}
	if e.count < t.max {
		return 0
	}
	return left
}

// fail records one failure for key.
func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entryLocked(key).count++
}

// entryLocked is key's entry in the current window: a new one, counting
// nothing yet, when key has none or its window ended. Caller holds mu.
func (t *throttle) entryLocked(key string) *throttleEntry {
	now := t.now()
	t.pruneLocked(now)
	e, ok := t.keys[key]
	if !ok || now.Sub(e.start) >= t.window {
		e = &throttleEntry{start: now}
		t.keys[key] = e
	}
	return e
}

// allow counts one event for key and reports whether it is within the
// limit: at most max events per window. Checking and counting happen under
// one lock, so concurrent callers cannot overshoot the limit together.
func (t *throttle) allow(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entryLocked(key)
	if e.count >= t.max {
		return false
	}
	e.count++
	return true
}

// pruneLocked drops expired keys once the map grows large. Caller holds mu.
func (t *throttle) pruneLocked(now time.Time) {
	if len(t.keys) <= 10000 {
		return
	}
	for k, e := range t.keys {
		if now.Sub(e.start) >= t.window {
			delete(t.keys, k)
		}
	}
}

// refund takes back one failure counted for key, for an attempt that
// turned out not to be one (the server could not check it, or it succeeded).
func (t *throttle) refund(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.keys[key]; ok && e.count > 0 {
		e.count--
	}
}

// reset forgets key (after a successful login).
func (t *throttle) reset(key string) {
	t.mu.Lock()
	delete(t.keys, key)
	t.mu.Unlock()
}
