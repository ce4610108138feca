package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// What enroll and announce share about talking to the server's HTTP API
// before the agent has a config: sending a request and reading its bounded
// answer, checking --server and the pin, refusing to overwrite an
// existing config, turning transport failures and error bodies into
// sentences, and checking the CA the server returns. The pinned TLS
// client itself is in enroll_tls.go.

// serverAnswer is what the server answered a request of askServer.
type serverAnswer struct {
	status   int
	location string // the Location header, for a redirect
	body     []byte // at most topics.MaxEnrollBody+1 bytes: the decoders refuse more
}

// askServer sends one request to the server's API over client (which does
// the TLS pinning): a POST of body as JSON, or a GET when body is nil, to
// path below server. op names the command in errors ("enroll"); refusal
// says what a failed pin check prevented (describeTransportError).
func askServer(ctx context.Context, client *http.Client, server *url.URL, path string, body []byte, op, refusal string) (*serverAnswer, error) {
	method, reqBody := http.MethodGet, io.Reader(nil)
	if body != nil {
		method, reqBody = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(server.String(), "/")+path, reqBody)
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "restic-manager-agent/"+Version)
	resp, err := client.Do(req)
	if err != nil {
		return nil, describeTransportError(op, refusal, server, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, topics.MaxEnrollBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read the server's answer: %w", op, err)
	}
	return &serverAnswer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: data}, nil
}

// checkServer validates a --server URL and an optional --ca-fingerprint and
// returns the parsed URL and the 32-byte pin (nil without one). plainHTTPRisk
// completes the sentence refusing plain http to a non-loopback address, e.g.
// "which would send the token in clear text".
func checkServer(serverURL, caFingerprint, plainHTTPRisk string) (*url.URL, []byte, error) {
	if serverURL == "" {
		return nil, nil, errors.New("--server is required: give the server's URL, e.g. https://backup.example.com")
	}
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, nil, fmt.Errorf("--server %q is not an http(s) URL: use e.g. https://backup.example.com", clipText(serverURL))
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, nil, fmt.Errorf("--server %s uses plain http, %s: use https://", u.Redacted(), plainHTTPRisk)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, errors.New("--server must be the base URL only (no credentials, query or fragment)")
	}
	var pin []byte
	if caFingerprint != "" {
		if pin, err = parsePin(caFingerprint); err != nil {
			return nil, nil, err
		}
	}
	return u, pin, nil
}

// checkConfigTarget refuses to replace an existing config without force:
// the config holds this host's identity, which would be lost.
func checkConfigTarget(path string, force bool) error {
	if path == "" {
		return errors.New("--config is required: say where to write the agent config, e.g. /etc/restic-manager-agent/agent.yaml")
	}
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("config %s already exists, so this host is already enrolled: remove it or pass --force to replace its identity", path)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// describeTransportError turns a failed request into a sentence. op names
// the command ("enroll"); refusal says what a failed pin check prevented,
// e.g. "refusing to send the token to".
func describeTransportError(op, refusal string, server *url.URL, err error) error {
	if errors.Is(err, errPinnedName) {
		return fmt.Errorf("%s: %s %s: %w: use the server name from its install command in --server", op, refusal, server.Host, unwrapURLError(err))
	}
	if errors.Is(err, errPinMismatch) {
		return fmt.Errorf("%s: %s %s: %w: check --ca-fingerprint against the server's install command", op, refusal, server.Host, unwrapURLError(err))
	}
	return fmt.Errorf("%s: cannot reach %s (%w): check --server and the network", op, server.Host, unwrapURLError(err))
}

// unwrapURLError drops net/http's `Post "URL": ` prefix, which repeats what
// the sentence around it already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// apiError is the server's error body, {error, message}.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// apiErrorMessage extracts the server's {error, message} body, cleaned for
// a terminal; ok is false when body is not that shape (e.g. a proxy's HTML).
func apiErrorMessage(body []byte) (msg string, ok bool) {
	var e apiError
	if json.Unmarshal(body, &e) != nil || (e.Error == "" && e.Message == "") {
		return "", false
	}
	msg = strings.TrimSpace(e.Message)
	if msg == "" {
		msg = strings.TrimSpace(e.Error)
	}
	return clipText(msg), true
}

// checkServerCA checks a CA certificate the server sent (PEM, may be empty)
// and the fingerprint it claims for it against each other and against the
// pin (pinText as the operator typed it), and returns the CA's fingerprint
// ("" without a CA).
func checkServerCA(caCert, claimed string, pin []byte, pinText string) (string, error) {
	if caCert == "" && pin != nil {
		return "", errors.New("the server returned no ca_cert, so the pinned CA cannot be checked: refusing")
	}
	if caCert == "" {
		return "", nil
	}
	ca, err := ParseCACert([]byte(caCert))
	if err != nil {
		return "", fmt.Errorf("the server's ca_cert is unusable: %w", err)
	}
	fingerprint := topics.Fingerprint(ca.Raw)
	if pin != nil {
		if err := CheckFingerprint(ca, pinText); err != nil {
			return "", fmt.Errorf("the CA the server returned is not the pinned one (%w): refusing; check --ca-fingerprint", err)
		}
	}
	if claimed != "" && claimed != fingerprint {
		return "", fmt.Errorf("the server's ca_fingerprint %q does not match its ca_cert (%s): refusing", clipText(claimed), fingerprint)
	}
	return fingerprint, nil
}
