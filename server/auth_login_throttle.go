package server

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Sign-in limits (#9). Attempts count per client address and per (address,
// user name), never per name alone: a name locked for the whole world lets
// anyone lock the admin out with five wrong passwords. Guessing one name from
// many addresses is slowed by the process-wide bound on password hashes
// (auth_password.go) instead.
const (
	loginWindow       = 15 * time.Minute
	loginFailsPerPair = 5  // per address and name: a person mistyping
	loginFailsPerAddr = 20 // per address, any names: an office behind one NAT address
	// loginsInFlightPerAddr bounds one address's sign-ins being checked or
	// waiting for a hash slot, so one address cannot fill the queue that
	// every address shares.
	loginsInFlightPerAddr = 4
)

// loginThrottle counts a sign-in attempt before its password is hashed, so a
// burst cannot pass the check together and then all hash: checking both
// keys and counting both happen under one lock. The attempt is settled
// afterwards: a success or a check the server could not make gives it back.
type loginThrottle struct {
	mu       sync.Mutex
	pairs    *throttle
	addrs    *throttle
	inFlight map[string]int // per address; mu guards it
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{
		pairs:    newThrottle(loginFailsPerPair, loginWindow, now),
		addrs:    newThrottle(loginFailsPerAddr, loginWindow, now),
		inFlight: make(map[string]int),
	}
}

// loginAttempt is one counted attempt, to be settled by Login.
type loginAttempt struct {
	lt         *loginThrottle
	addr, pair string
}

// begin counts an attempt for addr and name, or refuses it with how long to
// wait when either has used up its attempts.
func (lt *loginThrottle) begin(addr, name string) (*loginAttempt, error) {
	a := &loginAttempt{lt: lt, addr: addr, pair: addr + "\x00" + name}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if wait := max(lt.pairs.blockedFor(a.pair), lt.addrs.blockedFor(a.addr)); wait > 0 {
		return nil, &Error{Code: CodeRateLimited, RetryAfter: wait, Message: fmt.Sprintf(
			"Too many failed sign-ins from your address; wait %s and try again, or ask an admin to reset your password.", waitWords(wait))}
	}
	if lt.inFlight[addr] >= loginsInFlightPerAddr {
		return nil, &Error{Code: CodeRateLimited, RetryAfter: hashWait, Message: fmt.Sprintf(
			"Too many sign-ins at once from your address; wait %s and try again.", waitWords(hashWait))}
	}
	lt.inFlight[addr]++
	lt.pairs.fail(a.pair)
	lt.addrs.fail(a.addr)
	return a, nil
}

// failed settles a wrong name or password: the attempt stays counted.
func (a *loginAttempt) failed() { a.lt.done(a.addr) }

// refund gives the attempt back: the server could not check it, which is
// never the client's fault.
func (a *loginAttempt) refund() {
	a.lt.pairs.refund(a.pair)
	a.lt.addrs.refund(a.addr)
	a.lt.done(a.addr)
}

// succeeded clears the name's failures from this address and gives the
// address its attempt back.
func (a *loginAttempt) succeeded() {
	a.lt.pairs.reset(a.pair)
	a.lt.addrs.refund(a.addr)
	a.lt.done(a.addr)
}

// done ends an address's attempt in flight.
func (lt *loginThrottle) done(addr string) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.inFlight[addr]--; lt.inFlight[addr] <= 0 {
		delete(lt.inFlight, addr)
	}
}

// waitWords says a wait the way a person reads it, rounded up: "14 minutes",
// "1 minute", "40 seconds".
func waitWords(d time.Duration) string {
	n, unit := int(math.Ceil(d.Minutes())), "minute"
	if d <= time.Minute {
		n, unit = max(1, int(math.Ceil(d.Seconds()))), "second"
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
