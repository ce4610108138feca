package agent

import (
	"math/rand/v2"
	"time"
)

// Reconnect backoff defaults: the first retry comes after about a second,
// doubling up to half a minute, so a fleet that lost its server comes back
// within 30 s of the server without stampeding it.
const (
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 30 * time.Second
)

// backoff yields reconnect delays: exponential growth with "equal jitter"
// (half fixed, half random) so agents that lost the broker together do not
// come back in lockstep, yet none retries immediately.
type backoff struct {
	initial, max time.Duration
	next         time.Duration
}

func newBackoff(initial, max time.Duration) *backoff {
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if max < initial {
		max = initial
	}
	return &backoff{initial: initial, max: max, next: initial}
}

// Delay returns the wait before the next attempt and grows the one after.
func (b *backoff) Delay() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	half := d / 2
	return half + rand.N(half+1)
}

// Reset starts over after a connection that worked.
func (b *backoff) Reset() { b.next = b.initial }
