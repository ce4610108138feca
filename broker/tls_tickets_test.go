package broker_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/broker"
)

// ticketClient connects over TLS with its own session cache, as an agent
// does, sends its CONNECT and reads the CONNACK (which makes the client
// read the session ticket sent before it), and reports whether the
// handshake resumed a session.
type ticketClient struct {
	pool  *x509.CertPool
	cache tls.ClientSessionCache
}

func newTicketClient(pool *x509.CertPool) *ticketClient {
	return &ticketClient{pool: pool, cache: tls.NewLRUClientSessionCache(4)}
}

func (c *ticketClient) connect(t *testing.T, addr net.Addr) (resumed bool) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// ServerName, not the address, keys the cache: a restarted broker on
	// another port is the same server.
	tc := tls.Client(raw, &tls.Config{RootCAs: c.pool, ServerName: "127.0.0.1", ClientSessionCache: c.cache,
		MinVersion: tls.VersionTLS12})
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	rc := &rawClient{conn: tc, r: bufio.NewReader(tc), version: 4}
	if code := rc.connect(t, connectPacket(4, hostA, password(hostA))); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	return tc.ConnectionState().DidResume
}

// startTLSBroker starts a broker with only a TLS listener serving cert,
// whose ticket-key clock says at.
func startTLSBroker(t *testing.T, cert tls.Certificate, at time.Time) *testBroker {
	t.Helper()
	return startBroker(t, func(c *broker.Config) {
		c.TCPAddr = ""
		c.TLSAddr = "127.0.0.1:0"
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		broker.SetTicketClock(c, func() time.Time { return at })
	})
}

// TestTLSSessionResumesAcrossRestart: an agent that reconnects resumes its
// TLS session, also with a broker started again (a server restart: new
// process, same certificate), and a ticket stays good for the period after
// the one that issued it, not longer.
func TestTLSSessionResumesAcrossRestart(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	agent := newTicketClient(pool)
	old := newTicketClient(pool) // gets one ticket, in t0's period, and keeps it

	b1 := startTLSBroker(t, cert, t0)
	if agent.connect(t, b1.TLSAddr()) {
		t.Error("the first connection resumed a session")
	}
	if !agent.connect(t, b1.TLSAddr()) {
		t.Error("a reconnect to the same broker did not resume")
	}
	if old.connect(t, b1.TLSAddr()) {
		t.Error("a new client resumed a session")
	}
	if st := b1.Stats(); st.TLSHandshakes != 3 || st.TLSResumed != 1 {
		t.Errorf("first broker counted %d handshakes, %d resumed; want 3, 1", st.TLSHandshakes, st.TLSResumed)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart: its tickets come from the same certificate key.
	b2 := startTLSBroker(t, cert, t0.Add(time.Hour))
	if !agent.connect(t, b2.TLSAddr()) {
		t.Error("after a restart, a ticket issued before it was not accepted")
	}
	_ = b2.Close()

	// The next period: the previous key is still accepted.
	b3 := startTLSBroker(t, cert, t0.Add(broker.TicketKeyPeriod))
	if !agent.connect(t, b3.TLSAddr()) {
		t.Error("in the next period, a ticket of the previous one was not accepted")
	}
	_ = b3.Close()

	// Two periods on, t0's key is rotated out: a full handshake (which
	// works) — while the agent's ticket from b3 is still good.
	b4 := startTLSBroker(t, cert, t0.Add(2*broker.TicketKeyPeriod))
	if old.connect(t, b4.TLSAddr()) {
		t.Error("a ticket two periods old was accepted")
	}
	if !agent.connect(t, b4.TLSAddr()) {
		t.Error("a ticket of the previous period was not accepted")
	}
	if st := b4.Stats(); st.TLSHandshakes != 2 || st.TLSResumed != 1 {
		t.Errorf("last broker counted %d handshakes, %d resumed; want 2, 1", st.TLSHandshakes, st.TLSResumed)
	}

	// Another certificate (another server) accepts none of them.
	other, otherPool := selfSigned(t)
	b5 := startTLSBroker(t, other, t0.Add(2*broker.TicketKeyPeriod))
	stranger := &ticketClient{pool: otherPool, cache: agent.cache}
	if stranger.connect(t, b5.TLSAddr()) {
		t.Error("another server's broker accepted the ticket")
	}
}

// TestTicketKeysDeriveFromTheCertificateKey: the keys are a function of
// the certificate's key and the period only, differ between periods and
// between keys, and a configuration without a usable key keeps Go's own.
func TestTicketKeysDeriveFromTheCertificateKey(t *testing.T) {
	t.Parallel()
	cert, _ := selfSigned(t)
	other, _ := selfSigned(t)
	withCert := func(c tls.Certificate) *tls.Config { return &tls.Config{Certificates: []tls.Certificate{c}} }
	ka, okA := broker.TicketKey(withCert(cert), 7)
	kb, _ := broker.TicketKey(withCert(cert), 7)
	ka8, _ := broker.TicketKey(withCert(cert), 8)
	kc, _ := broker.TicketKey(withCert(other), 7)
	if !okA || ka != kb || ka == ka8 || ka == kc || ka == [32]byte{} {
		t.Errorf("keys: derived %v, same key and period equal %v, next period differs %v, other key differs %v",
			okA, ka == kb, ka != ka8, ka != kc)
	}
	byCallback := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}
	if _, ok := broker.TicketKey(byCallback, 7); ok {
		t.Error("keys derived without a certificate")
	}
	disabled := withCert(cert)
	disabled.SessionTicketsDisabled = true
	if _, ok := broker.TicketKey(disabled, 7); ok {
		t.Error("keys derived with tickets disabled")
	}
}
