package agent

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Reconnect backoff defaults: the first retry comes after about a second,
// doubling up to half a minute, so a fleet that lost its server comes back
// within 30 s of the server without stampeding it. The config's
// reconnect_backoff_max changes the cap.
const (
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 30 * time.Second
)

// DefaultRefusedRetry is the wait after the broker refused this host's
// credentials (revoked or removed). Retrying at the normal pace would spend
// the broker's failed-login budget for the whole source address, locking out
// every other machine behind the same NAT; a slow retry still lets a host
// whose refusal was a server-side mistake come back by itself.
const DefaultRefusedRetry = 10 * time.Minute

// retryDelay is the wait before reconnecting after err. Only a refusal of
// the credentials (CONNACK 0x04 or 0x05) earns the long wait; "server
// unavailable" (0x03), which the broker answers when the server itself
// failed (its database busy or down), is retried on the normal backoff like
// a lost connection: the host did nothing wrong and should be back as soon
// as the server is.
func (a *Agent) retryDelay(err error) time.Duration {
	if errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		half := a.refusedRetry / 2
		return half + rand.N(half+1)
	}
	return a.backoff.Delay()
}

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
