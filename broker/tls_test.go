package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
	"github.com/restic-manager/restic-manager/topics"
)

// selfSigned makes a throwaway certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "broker test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLSListener(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	tb := startBroker(t, func(c *broker.Config) {
		c.TCPAddr = ""
		c.TLSAddr = "127.0.0.1:0"
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		c.ConnectTimeout = 300 * time.Millisecond
	})
	if tb.TCPAddr() != nil || tb.TLSAddr() == nil {
		t.Fatalf("addresses: tcp %v tls %v", tb.TCPAddr(), tb.TLSAddr())
	}
	url := "ssl://" + tb.TLSAddr().String()
	up := tb.inbox(t, topics.AllHostsUpFilter)
	a := mustPaho(t, url, hostA, func(o *paho.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	})
	wait(t, "publish over TLS", a.Publish(topics.HelloTopic(hostA), 1, false, payload("tls")))
	waitFor(t, "hello over TLS", func() bool { return len(up.all()) == 1 })
	if up.all()[0].Conn != tb.presence.find(hostA, true)[0] {
		t.Error("serial mismatch over TLS")
	}

	// A wrong password is refused over TLS as well.
	if _, err := dialPaho(t, url, hostB, func(o *paho.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).SetPassword("nope")
	}); err == nil {
		t.Error("wrong password accepted over TLS")
	}

	// A TCP connection that never starts the TLS handshake hits the CONNECT
	// deadline (the handshake happens inside mochi's first read).
	raw := dialRaw(t, tb.TLSAddr())
	if !raw.closedByBroker(5 * time.Second) {
		t.Error("a connection without a TLS handshake stayed open")
	}
	waitFor(t, "ConnectTimeouts", func() bool { return tb.Stats().ConnectTimeouts == 1 })
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	b, err := broker.New(broker.Config{TCPAddr: tb.TCPAddr().String()}, brokertest.NewStaticAuth())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(); err == nil {
		t.Fatal("Start on a busy address succeeded")
	}
}
