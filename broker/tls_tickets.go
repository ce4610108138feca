package broker

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"strconv"
	"sync/atomic"
	"time"
)

// TicketKeyPeriod is how long one TLS session-ticket key issues tickets.
// A ticket stays accepted for one more period after its key stopped
// issuing (the previous key is still tried), so a ticket lives between
// one and two periods, bounded by TLS 1.3's own 7 days.
const TicketKeyPeriod = 24 * time.Hour

// ticketInfo labels the derivation, so the key material is used for
// nothing else under the same name.
const ticketInfo = "restic-manager broker TLS session ticket key v1 period "

// ticketKeys gives the TLS listener session-ticket keys that survive a
// restart of the server, so that after a restart storm most agents resume
// their TLS session (no certificate signature on the server, no chain
// verification on the agent) instead of making a full handshake.
//
// Go's own ticket keys are random and live in memory only: every ticket
// is void after a restart, which is exactly when the whole fleet comes
// back at once. Here the keys are derived (HKDF-SHA256) from the serving
// certificate's private key — key material the server already keeps
// sealed, so there is no new secret to store, log or pass — and the
// period number: the key of the current period issues, the previous
// period's is still accepted. A reissued serving certificate voids the
// tickets (those agents make one full handshake).
//
// The agents resume with TLS 1.3's PSK with (EC)DHE (Go's client offers
// no other mode), so a resumed connection still has its own key exchange:
// the ticket key cannot decrypt recorded traffic.
type ticketKeys struct {
	cfg    *tls.Config // the listener's own copy; its keys are set here
	secret []byte      // the HKDF input; nil: Go's own rotating keys
	now    func() time.Time
	period atomic.Int64 // the period whose keys are set; -1 before the first
}

// newTicketKeys returns a copy of cfg whose ticket keys derive from its
// first certificate's private key. When there is no such key (a
// GetCertificate callback, a key that cannot be marshalled) or tickets are
// disabled, the copy keeps Go's defaults and tickets still work until a
// restart.
func newTicketKeys(cfg *tls.Config, now func() time.Time) *ticketKeys {
	t := &ticketKeys{cfg: cfg.Clone(), now: now}
	t.period.Store(-1)
	if cfg.SessionTicketsDisabled || len(cfg.Certificates) == 0 || cfg.Certificates[0].PrivateKey == nil {
		return t
	}
	der, err := x509.MarshalPKCS8PrivateKey(cfg.Certificates[0].PrivateKey)
	if err != nil {
		return t
	}
	t.secret = der
	t.refresh()
	return t
}

// derived reports whether the keys come from the certificate's key (and
// so survive a restart).
func (t *ticketKeys) derived() bool { return t.secret != nil }

// refresh sets the keys of the current period and the previous one when
// the period changed since the last call. The accept loop calls it before
// each TLS connection; it costs an atomic load unless a period ended.
func (t *ticketKeys) refresh() {
	if t.secret == nil {
		return
	}
	p := t.now().Unix() / int64(TicketKeyPeriod/time.Second)
	if t.period.Load() == p {
		return
	}
	cur, err1 := t.key(p)
	prev, err2 := t.key(p - 1)
	if err1 != nil || err2 != nil {
		return // HKDF-SHA256 fails only for an absurd length; keep the keys in place
	}
	t.cfg.SetSessionTicketKeys([][32]byte{cur, prev})
	t.period.Store(p)
}

// key derives period p's ticket key.
func (t *ticketKeys) key(p int64) ([32]byte, error) {
	var k [32]byte
	b, err := hkdf.Key(sha256.New, t.secret, nil, ticketInfo+strconv.FormatInt(p, 10), len(k))
	copy(k[:], b)
	return k, err
}
