package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// fingerprintPrefix starts every CA fingerprint, as in OpenSSH's output.
const fingerprintPrefix = "SHA256:"

// Fingerprint returns the OpenSSH-style fingerprint of a certificate:
// "SHA256:" followed by the unpadded standard base64 of sha256 over its DER.
// It is what the server prints next to its install command and what
// `enroll --ca-fingerprint` pins.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return fingerprintPrefix + base64.RawStdEncoding.EncodeToString(sum[:])
}

// ParseFingerprint checks the form of a pin and returns the 32-byte digest.
// Padding ('=') is tolerated because some tools add it.
func ParseFingerprint(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), fingerprintPrefix)
	if !ok {
		return nil, fmt.Errorf("CA fingerprint %q must start with %s (copy it from the server's install command)", clipText(s), fingerprintPrefix)
	}
	sum, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("CA fingerprint %q is not %s followed by 43 base64 characters: copy it again from the server", clipText(s), fingerprintPrefix)
	}
	return sum, nil
}

// CheckFingerprint reports whether cert hashes to the pin.
func CheckFingerprint(cert *x509.Certificate, pin string) error {
	want, err := ParseFingerprint(pin)
	if err != nil {
		return err
	}
	got := sha256.Sum256(cert.Raw)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return fmt.Errorf("certificate %s has fingerprint %s, not the pinned %s", certName(cert), Fingerprint(cert), clipText(pin))
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
