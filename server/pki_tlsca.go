package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// TLSMaterial is the server's certificate authority and the serving
// certificate it signed, for the HTTPS and MQTTS listeners. Agents pin the CA
// by Fingerprint (kubeadm-join style), so a self-signed CA is as safe as a
// public one for agent traffic.
type TLSMaterial struct {
	CACertPEM   []byte
	Fingerprint string // topics.Fingerprint of the CA's DER
	Config      *tls.Config
}

// LoadOrCreateTLS returns the CA and serving certificate, creating them on
// first start. Keys are stored sealed in the settings table, never in plain
// files. The serving certificate is re-issued when it nears expiry or when
// the wanted names (sans) are not all in it.
func (s *Service) LoadOrCreateTLS(ctx context.Context, sans []string) (*TLSMaterial, error) {
	caCert, caKey, err := s.loadOrCreateCA(ctx)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate authority: %w", err)
	}
	want := defaultSANs(sans)
	leafPEM, leafKeyPEM, err := s.loadLeaf(ctx)
	if err != nil {
		return nil, err
	}
	if leafPEM == nil || !leafCovers(leafPEM, want, s.now()) {
		leafPEM, leafKeyPEM, err = issueLeaf(caCert, caKey, want, s.now())
		if err != nil {
			return nil, fmt.Errorf("tls: issue server certificate: %w", err)
		}
		if err := s.putSetting(ctx, "tls_cert", leafPEM, false); err != nil {
			return nil, err
		}
		if err := s.putSetting(ctx, "tls_key", leafKeyPEM, true); err != nil {
			return nil, err
		}
	}
	pair, err := tls.X509KeyPair(append(leafPEM, pemBlock("CERTIFICATE", caCert.Raw)...), leafKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: load server key pair: %w", err)
	}
	return &TLSMaterial{
		CACertPEM:   pemBlock("CERTIFICATE", caCert.Raw),
		Fingerprint: topics.Fingerprint(caCert.Raw),
		Config:      &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
	}, nil
}

func (s *Service) loadOrCreateCA(ctx context.Context) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, ok, err := s.getSetting(ctx, "ca_cert")
	if err != nil {
		return nil, nil, err
	}
	if ok {
		keyPEM, _, err := s.getSetting(ctx, "ca_key")
		if err != nil {
			return nil, nil, err
		}
		return parsePair(certPEM, keyPEM)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "restic-manager CA " + host, Organization: []string{"restic-manager"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := s.putSetting(ctx, "ca_cert", pemBlock("CERTIFICATE", der), false); err != nil {
		return nil, nil, err
	}
	if err := s.putSetting(ctx, "ca_key", pemBlock("EC PRIVATE KEY", keyDER), true); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func (s *Service) loadLeaf(ctx context.Context) (certPEM, keyPEM []byte, err error) {
	certPEM, ok, err := s.getSetting(ctx, "tls_cert")
	if err != nil || !ok {
		return nil, nil, err
	}
	keyPEM, ok, err = s.getSetting(ctx, "tls_key")
	if err != nil || !ok {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

func defaultSANs(extra []string) []string {
	out := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		out = append(out, h)
	}
	for _, s := range extra {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func leafCovers(certPEM []byte, sans []string, now time.Time) bool {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil || now.Add(30*24*time.Hour).After(c.NotAfter) {
		return false
	}
	for _, s := range sans {
		if c.VerifyHostname(s) != nil {
			return false
		}
	}
	return true
}

func issueLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, sans []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: sans[len(sans)-1], Organization: []string{"restic-manager"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", keyDER), nil
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("stored CA is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	return cert, key, err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

// IssueBrokerCertificate issues a serving certificate for an external MQTT
// broker (serve --broker, #15) from the server's CA, for names (DNS names or
// IPs, at least one): agents pin that CA, so a broker whose certificate it
// issued is one they trust, and no other. It returns the certificate, its
// private key and the CA certificate, PEM-encoded. Nothing is stored: the
// key exists only in what the caller writes.
func (s *Service) IssueBrokerCertificate(ctx context.Context, names []string) (certPEM, keyPEM, caPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, nil, invalidf("Name the broker's host: at least one DNS name or IP address the agents connect to.")
	}
	for _, n := range names {
		if n == "" || len(n) > 253 || strings.ContainsAny(n, " /,*") {
			return nil, nil, nil, invalidf("%q is not a host name or IP address; name the broker's host as agents reach it.", n)
		}
	}
	caCert, caKey, err := s.loadOrCreateCA(ctx)
	if err != nil {
		return nil, nil, nil, internal("Could not load the server's certificate authority", err)
	}
	certPEM, keyPEM, err = issueLeaf(caCert, caKey, names, s.now())
	if err != nil {
		return nil, nil, nil, internal("Could not issue the broker's certificate", err)
	}
	return certPEM, keyPEM, pemBlock("CERTIFICATE", caCert.Raw), nil
}

// CACertPEM returns the server's CA certificate, PEM-encoded (the one agents
// pin), creating the CA on a first start.
func (s *Service) CACertPEM(ctx context.Context) ([]byte, error) {
	caCert, _, err := s.loadOrCreateCA(ctx)
	if err != nil {
		return nil, internal("Could not load the server's certificate authority", err)
	}
	return pemBlock("CERTIFICATE", caCert.Raw), nil
}
