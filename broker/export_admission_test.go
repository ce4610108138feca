package broker

import (
	"crypto/tls"
	"time"
)

// Exports for the admission and TLS session-ticket tests (package
// broker_test). Only tests are compiled with this file.

// SetTicketClock sets the clock the TLS ticket keys' periods are read
// from, as if the broker started at another time.
func SetTicketClock(c *Config, now func() time.Time) { c.now = now }

// SetAdmissionWait sets how long a connection waits for an admission slot
// apart from ConnectTimeout.
func SetAdmissionWait(c *Config, d time.Duration) { c.admissionWait = d }

// AdmissionState returns the slots taken, the addresses holding one and
// the connections waiting in line.
func (b *Broker) AdmissionState() (taken, addrs, waiting int) {
	a := b.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse, len(a.perAddr), len(a.queue)
}

// TicketKey returns the session-ticket key a TLS listener serving cfg
// derives for period, and whether it derives them at all.
func TicketKey(cfg *tls.Config, period int64) (key [32]byte, derived bool) {
	t := newTicketKeys(cfg, time.Now)
	if !t.derived() {
		return key, false
	}
	key, err := t.key(period)
	return key, err == nil
}
