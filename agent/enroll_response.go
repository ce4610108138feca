package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// maxEnrollResponse bounds the enrollment answer; a CA certificate and a few
// strings fit in a few KB.
const maxEnrollResponse = 64 << 10

// enrollResponse is the server's 200 answer to an enrollment.
type enrollResponse struct {
	HostID        string `json:"host_id"`
	HostName      string `json:"host_name"`
	MQTTURL       string `json:"mqtt_url"`
	MQTTPassword  string `json:"mqtt_password"`
	CACert        string `json:"ca_cert"`
	CAFingerprint string `json:"ca_fingerprint"`
}

// decodeEnrollResponse parses and checks an untrusted enrollment answer.
// Unknown fields are ignored (a newer server may add some); the fields the
// agent needs must be present and sane. The config built from it is
// validated again before anything is written.
func decodeEnrollResponse(data []byte) (*enrollResponse, error) {
	if len(data) > maxEnrollResponse {
		return nil, fmt.Errorf("the server's answer is larger than %d bytes: is --server the restic-manager server?", maxEnrollResponse)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var r enrollResponse
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("the server's answer is not the expected JSON (%v): is --server the restic-manager server?", err)
	}
	if dec.More() {
		return nil, errors.New("the server's answer has data after the JSON object: is --server the restic-manager server?")
	}
	switch {
	case r.HostID == "":
		return nil, errors.New("the server's answer has no host_id")
	case r.MQTTURL == "" || len(r.MQTTURL) > 2048:
		return nil, errors.New("the server's answer has no usable mqtt_url")
	case r.MQTTPassword == "":
		return nil, errors.New("the server's answer has no mqtt_password")
	case len(r.HostName) > 255:
		return nil, errors.New("the server's answer has an oversized host_name")
	}
	return &r, nil
}

// config checks the answer against the pin and turns it into a Config.
func (r *enrollResponse) config(opts EnrollOptions, pin []byte) (*Config, error) {
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
