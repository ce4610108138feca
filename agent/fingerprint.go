package agent

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/restic-manager/restic-manager/topics"
)

// The CA fingerprint itself (its form, how it is computed and parsed) is
// topics': topics.Fingerprint over the certificate's DER. What is here is
// the agent's use of it: parsing --ca-fingerprint, checking a CA against
// the pin, and reading the CA certificate the server sends.

// parsePin parses a --ca-fingerprint as the operator typed it and returns
// the digest the TLS connection and the CA are checked against.
func parsePin(s string) ([]byte, error) {
	pin, err := topics.ParseFingerprint(s)
	if err != nil {
		return nil, fmt.Errorf("CA %w: copy it again from the server's install command", err)
	}
	return pin, nil
}

// CheckFingerprint reports whether cert hashes to the pin.
func CheckFingerprint(cert *x509.Certificate, pin string) error {
	want, err := parsePin(pin)
	if err != nil {
		return err
	}
	if !topics.FingerprintMatches(cert.Raw, want) {
		return fmt.Errorf("certificate %s has fingerprint %s, not the pinned %s", certName(cert), topics.Fingerprint(cert.Raw), clipText(pin))
	}
	return nil
}

// ParseCACert parses a PEM document holding exactly one CA certificate.
func ParseCACert(pemData []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate (expected -----BEGIN CERTIFICATE-----)")
	}
	if extra, _ := pem.Decode(rest); extra != nil {
		return nil, errors.New("more than one PEM block: give only the server's CA certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("certificate %s is not a CA certificate", certName(cert))
	}
	return cert, nil
}

// certName names a certificate in an error message.
func certName(cert *x509.Certificate) string {
	if cn := cert.Subject.CommonName; cn != "" {
		return fmt.Sprintf("%q", clipText(cn))
	}
	return "(no common name)"
}
