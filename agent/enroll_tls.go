package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/restic-manager/restic-manager/topics"
)

// enrollTimeout bounds a whole request to the server (enrollment, bootstrap),
// TLS handshake included.
const enrollTimeout = 60 * time.Second

// serverHTTPClient builds the client for the requests made before the agent
// has a config: enrollment (enroll.go) and announce's bootstrap (bootstrap.go).
//
// Without a pin it trusts the system roots, like a browser would. With a pin
// (the digest in the server's CA fingerprint, see topics.ParseFingerprint)
// it trusts exactly the one CA certificate in the server's presented chain
// that hashes to the pin.
// Go's verifier needs its roots before the handshake, and we only learn the
// CA from the handshake itself, so InsecureSkipVerify switches Go's own check
// off and VerifyConnection does the complete check instead: chain to the
// pinned CA, validity dates, server-auth usage and the host name of the URL.
// Nothing is skipped; only who does it changes. This requires the server to
// send its CA certificate in the chain it presents (leaf, then CA).
//
// Redirects are not followed: the token must reach the URL the operator
// typed, the pinned answer must come from it, and a redirect is a
// misconfiguration worth reporting.
func serverHTTPClient(host string, pin []byte) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if pin != nil {
		cfg.InsecureSkipVerify = true // verification is done by VerifyConnection, see above
		cfg.VerifyConnection = pinnedVerifier(host, pin)
	}
	tr.TLSClientConfig = cfg
	return &http.Client{
		Transport: tr,
		Timeout:   enrollTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Errors of the pinned handshake; Enroll turns them into a sentence for the
// operator.
var (
	errPinMismatch = errors.New("the server's TLS certificate is not issued by the pinned CA")
	errPinnedName  = errors.New("the server's TLS certificate is from the pinned CA but not for this address")
)

// pinnedVerifier returns a VerifyConnection callback that accepts the
// connection only if the leaf verifies, for host, against the presented
// certificate whose fingerprint is pin (topics.FingerprintMatches).
func pinnedVerifier(host string, pin []byte) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		certs := cs.PeerCertificates
		if len(certs) == 0 {
			return fmt.Errorf("%w: the server presented no certificate", errPinMismatch)
		}
		var anchor *x509.Certificate
		intermediates := x509.NewCertPool()
		for _, c := range certs {
			if topics.FingerprintMatches(c.Raw, pin) {
				anchor = c
				continue
			}
			intermediates.AddCert(c)
		}
		if anchor == nil {
			return fmt.Errorf("%w: none of the %d certificate(s) it presented (leaf %s, issued by %q) has the pinned fingerprint",
				errPinMismatch, len(certs), certName(certs[0]), clipText(certs[0].Issuer.CommonName))
		}
		roots := x509.NewCertPool()
		roots.AddCert(anchor)
		_, err := certs[0].Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: intermediates,
			DNSName:       host,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		var hostErr x509.HostnameError
		switch {
		case errors.As(err, &hostErr):
			return fmt.Errorf("%w: %v", errPinnedName, err)
		case err != nil:
			return fmt.Errorf("%w: %v", errPinMismatch, err)
		}
		return nil
	}
}
