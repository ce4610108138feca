package topics

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The HTTP contract of the two requests an agent makes before it has a
// config (DESIGN §4.1, §4.2): enrollment with a token, and the bootstrap
// an announcing agent asks for. The server (web) decodes EnrollRequest and
// answers EnrollResponse and BootstrapResponse; the agent sends the first
// and decodes the others; agent/agenttest stands in for the server with
// the same types.

// The endpoints, relative to the server's base URL.
const (
	// EnrollPath takes POST EnrollRequest and answers EnrollResponse.
	EnrollPath = "/api/v1/agents/enroll"
	// BootstrapPath answers GET with BootstrapResponse. It is public: an
	// announcing agent has no credential yet, and none of it is secret.
	// POST BootstrapRequest gets the same answer and, where the broker
	// keeps its own accounts (an external Mosquitto), makes the agent's
	// pending client there first; agents before #15 only GET.
	BootstrapPath = "/api/v1/agents/bootstrap"
)

// Bounds of the enrollment and bootstrap bodies.
const (
	// MaxEnrollBody bounds a request or answer body: a CA certificate and
	// a few strings fit in a few KB.
	MaxEnrollBody = 64 << 10
	// MaxEnrollToken bounds a token; the server issues "rme_" and 43
	// characters.
	MaxEnrollToken = 200
	// MaxMachineField bounds what an agent says about its machine
	// (hostname, os, arch, versions) and the host name it is given.
	MaxMachineField = maxShort
	// MaxMQTTURL bounds a broker URL an answer carries.
	MaxMQTTURL = 512
	// MaxMQTTPassword bounds the MQTT password an answer carries.
	MaxMQTTPassword = 256
	// MaxCACert bounds the PEM CA certificate an answer carries.
	MaxCACert = 32 << 10
	// MinPendingPassword is the shortest pending client password a
	// bootstrap request may name: the agent makes 43 random characters.
	MinPendingPassword = 22
)

// EnrollRequest is the body of POST EnrollPath: the single-use token and
// what the agent knows about its machine (for the host's first display).
type EnrollRequest struct {
	Token         string `json:"token"`
	Hostname      string `json:"hostname"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	AgentVersion  string `json:"agent_version"`
	ResticVersion string `json:"restic_version"`
}

// Validate checks the token's form and the machine fields' size and
// characters (any of them may be empty but the token).
func (r *EnrollRequest) Validate() error {
	if err := CheckEnrollToken(r.Token); err != nil {
		return err
	}
	return shortText(map[string]string{"hostname": r.Hostname, "os": r.OS, "arch": r.Arch,
		"agent_version": r.AgentVersion, "restic_version": r.ResticVersion}, false)
}

// CheckEnrollToken checks that t can be a token the server issued: not
// empty, at most MaxEnrollToken bytes, no spaces or control characters. The
// agent checks it before sending anything, the server before looking it up.
func CheckEnrollToken(t string) error {
	switch {
	case t == "":
		return errors.New("the enrollment token is empty")
	case len(t) > MaxEnrollToken:
		return fmt.Errorf("the enrollment token is longer than %d characters: copy it again", MaxEnrollToken)
	case strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("the enrollment token contains spaces or control characters: copy it again")
	}
	return nil
}

// EnrollResponse is the server's 200 answer to POST EnrollPath: the
// credentials an approved announce gets too (ApprovedCredentials), with
// the broker always named. The MQTT password is shown only here; the
// server keeps only its hash.
type EnrollResponse struct {
	ApprovedCredentials
}

// Validate checks an enrollment answer: the credentials' rules plus a
// broker URL.
func (r *EnrollResponse) Validate() error {
	if err := r.ApprovedCredentials.Validate(); err != nil {
		return err
	}
	if r.MQTTURL == "" {
		return errors.New("no usable mqtt_url")
	}
	return nil
}

// BootstrapResponse is the server's 200 answer to GET BootstrapPath: where
// an announcing agent finds the broker, and the CA to check it with
// (/ca.pem serves the same certificate).
type BootstrapResponse struct {
	MQTTURL       string `json:"mqtt_url"`
	CACert        string `json:"ca_cert"`
	CAFingerprint string `json:"ca_fingerprint"`
}

// Validate checks a bootstrap answer's fields' presence and size; the
// agent checks the URL's scheme and the CA against its pin.
func (r *BootstrapResponse) Validate() error {
	switch {
	case r.MQTTURL == "" || len(r.MQTTURL) > MaxMQTTURL:
		return errors.New("no usable mqtt_url")
	case len(r.CACert) > MaxCACert:
		return errors.New("ca_cert too large")
	case len(r.CAFingerprint) > MaxMachineField:
		return errors.New("ca_fingerprint too long")
	}
	return nil
}

// BootstrapRequest is the body of POST BootstrapPath: the pending client an
// announcing agent is about to connect as (its ID, the identity key the ID
// belongs to) and the MQTT password it will use, signed by that key so
// nobody else can set a password for the ID (DESIGN §4.2, #15). A broker
// that checks CONNECTs itself (an external Mosquitto) lets the pending
// client in only after the server provisioned it from this request; the
// embedded broker needs no password for a pending client and ignores it.
type BootstrapRequest struct {
	Client      string `json:"client"`       // PendingID(IdentityKey)
	IdentityKey []byte `json:"identity_key"` // Ed25519 public key, 32 bytes
	Password    string `json:"password"`     // the pending client's MQTT password
	Signature   []byte `json:"signature"`    // Ed25519 over BootstrapMessage(Client, Password)
}

// BootstrapMessage is what the identity key signs in a BootstrapRequest.
func BootstrapMessage(client, password string) []byte {
	return []byte("rm-announce-v1 bootstrap\x00" + client + "\x00" + password)
}

// Validate checks the request: the client ID belongs to the identity key,
// the password's length and characters, and the signature.
func (r *BootstrapRequest) Validate() error {
	switch {
	case len(r.IdentityKey) != ed25519.PublicKeySize || len(r.Signature) != ed25519.SignatureSize:
		return errors.New("identity_key or signature has the wrong size")
	case r.Client != PendingID(r.IdentityKey):
		return errors.New("client id does not belong to the identity key")
	case len(r.Password) < MinPendingPassword || len(r.Password) > MaxMQTTPassword:
		return fmt.Errorf("password must be %d to %d characters", MinPendingPassword, MaxMQTTPassword)
	case strings.ContainsFunc(r.Password, func(c rune) bool { return c <= ' ' || c >= 0x7f }):
		return errors.New("password contains spaces, control or non-ASCII characters")
	case !ed25519.Verify(ed25519.PublicKey(r.IdentityKey), BootstrapMessage(r.Client, r.Password), r.Signature):
		return errors.New("signature does not verify with the identity key")
	}
	return nil
}

// DecodeBootstrapRequest parses and validates an untrusted bootstrap
// request.
func DecodeBootstrapRequest(data []byte) (*BootstrapRequest, error) {
	var r BootstrapRequest
	if err := decodeBody(data, "bootstrap request", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeEnrollRequest parses and validates an untrusted enrollment body.
func DecodeEnrollRequest(data []byte) (*EnrollRequest, error) {
	var r EnrollRequest
	if err := decodeBody(data, "enrollment request", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeEnrollResponse parses and validates an untrusted enrollment answer.
func DecodeEnrollResponse(data []byte) (*EnrollResponse, error) {
	var r EnrollResponse
	if err := decodeBody(data, "enrollment answer", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeBootstrapResponse parses and validates an untrusted bootstrap
// answer.
func DecodeBootstrapResponse(data []byte) (*BootstrapResponse, error) {
	var r BootstrapResponse
	if err := decodeBody(data, "bootstrap answer", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// decodeBody reads exactly one JSON object of at most MaxEnrollBody bytes
// into v and validates it. Unknown fields are ignored: a newer peer may
// add some. what names the body in errors ("enrollment answer").
func decodeBody(data []byte, what string, v interface{ Validate() error }) error {
	if len(data) > MaxEnrollBody {
		return fmt.Errorf("%s is larger than %d bytes", what, MaxEnrollBody)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s is not the expected JSON (%s)", what, clip(err.Error()))
	}
	if dec.More() {
		return fmt.Errorf("%s has data after the JSON object", what)
	}
	if err := v.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
