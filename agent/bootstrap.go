package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// bootstrap is a checked bootstrap answer: the broker to announce through
// and the only CA trusted for it.
type bootstrap struct {
	mqttURL       string   // as the server gave it; goes into the config
	broker        *url.URL // mqttURL with its default port filled in
	caPEM         string
	ca            *x509.Certificate // nil only for plain MQTT on loopback
	caFingerprint string
}

// fetchBootstrap asks the server for its broker and CA, over client (which
// does the TLS pinning), and checks the answer against the pin.
func fetchBootstrap(ctx context.Context, client *http.Client, server *url.URL, pin []byte, pinText string) (*bootstrap, error) {
	ans, err := askServer(ctx, client, server, topics.BootstrapPath, nil, "announce", "refusing to trust")
	if err != nil {
		return nil, err
	}
	if ans.status != http.StatusOK {
		return nil, bootstrapStatusError(ans.status, ans.body)
	}
	b, err := decodeBootstrap(ans.body, pin, pinText)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	return b, nil
}

// decodeBootstrap parses an untrusted bootstrap answer (topics'
// rules) and checks it against the pin and the rules of announce.
func decodeBootstrap(data []byte, pin []byte, pinText string) (*bootstrap, error) {
	r, err := topics.DecodeBootstrapResponse(data)
	if err != nil {
		return nil, fmt.Errorf("the server's %w: is --server the restic-manager server, with its broker set up?", err)
	}
	broker, err := (&Config{MQTTURL: r.MQTTURL}).BrokerURL()
	if err != nil {
		return nil, fmt.Errorf("the server's bootstrap answer has an unusable mqtt_url: %w", err)
	}
	fingerprint, err := checkServerCA(r.CACert, r.CAFingerprint, pin, pinText)
	if err != nil {
		return nil, err
	}
	b := &bootstrap{mqttURL: r.MQTTURL, broker: broker, caPEM: r.CACert, caFingerprint: fingerprint}
	if r.CACert != "" {
		if b.ca, err = ParseCACert([]byte(r.CACert)); err != nil {
			return nil, fmt.Errorf("the server's ca_cert is unusable: %w", err)
		}
	}
	switch {
	case !isTLSScheme(broker.Scheme) && !isLoopback(broker.Hostname()):
		// Sealing hides the credentials but anyone can seal to our public
		// key: only TLS to the pinned CA proves the approval is the server's.
		return nil, fmt.Errorf("the server's broker %s is plain MQTT, and announce needs TLS to know the approval comes from the server: enable the server's MQTT TLS listener, or enroll with a token", broker.Redacted())
	case isTLSScheme(broker.Scheme) && b.ca == nil:
		return nil, fmt.Errorf("the server's bootstrap answer has no ca_cert, which is needed to check its broker %s: check the server's TLS settings", broker.Redacted())
	}
	return b, nil
}

// bootstrapStatusError turns a non-200 bootstrap answer into a sentence.
func bootstrapStatusError(status int, body []byte) error {
	msg, isAPIError := apiErrorMessage(body)
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	switch {
	case status == http.StatusNotFound && !isAPIError:
		return errors.New("announce: the server has no bootstrap endpoint (HTTP 404): is --server the restic-manager server's URL, and is the server new enough for announce?")
	case status == http.StatusTooManyRequests:
		return fmt.Errorf("announce: the server is limiting requests: %s (wait a minute and try again)", msg)
	case status >= 300 && status < 400:
		return fmt.Errorf("announce: the server redirected (HTTP %d): use the URL it redirects to as --server", status)
	case status >= 400 && status < 500:
		return fmt.Errorf("announce: the server refused the bootstrap request (HTTP %d): %s", status, msg)
	default:
		return fmt.Errorf("announce: the server failed (HTTP %d): %s (try again later, or check the server's log)", status, msg)
	}
}
