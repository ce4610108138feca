package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// enrollConfig checks a decoded enrollment answer (topics.EnrollResponse,
// already validated) against the pin and turns it into a Config, which is
// validated again before anything is written.
func enrollConfig(r *topics.EnrollResponse, opts EnrollOptions, pin []byte) (*Config, error) {
	fingerprint, err := checkServerCA(r.CACert, r.CAFingerprint, pin, opts.CAFingerprint)
	if err != nil {
		return nil, err
	}
	stateDir := opts.StateDir
	if stateDir == "" {
		stateDir = DefaultStateDir()
	}
	cfg := &Config{
		HostID:        r.HostID,
		MQTTURL:       r.MQTTURL,
		MQTTPassword:  r.MQTTPassword,
		StateDir:      stateDir,
		ResticBinary:  opts.ResticBinary,
		ServerURL:     strings.TrimRight(opts.ServerURL, "/"),
		CACert:        r.CACert,
		CAFingerprint: fingerprint,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("the server's answer makes an invalid config: %w", err)
	}
	return cfg, nil
}

// enrollStatusError turns a non-200 answer into a sentence that passes the
// server's message on (cleaned of control characters) and says what to do.
func enrollStatusError(status int, location string, body []byte) error {
	msg, isAPIError := apiErrorMessage(body)
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	switch {
	case status == http.StatusNotFound && !isAPIError:
		return errors.New("enroll: the server has no enrollment endpoint (HTTP 404): is --server the restic-manager server's URL?")
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound ||
		status == http.StatusGone || status == http.StatusConflict:
		return fmt.Errorf("enroll: the server refused the token: %s (ask an admin for a new token)", msg)
	case status == http.StatusTooManyRequests:
		return fmt.Errorf("enroll: the server is limiting enrollment attempts: %s (wait a minute and try again)", msg)
	case status >= 300 && status < 400:
		return fmt.Errorf("enroll: the server redirected to %q: use that URL as --server", clipText(location))
	case status >= 400 && status < 500:
		return fmt.Errorf("enroll: the server rejected the request (HTTP %d): %s", status, msg)
	default:
		return fmt.Errorf("enroll: the server failed (HTTP %d): %s (try again later, or check the server's log)", status, msg)
	}
}
