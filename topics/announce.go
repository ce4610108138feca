package topics

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"
)

// Announce-and-approve (DESIGN §4.2) message types, all on
// rm/v1/announce/{c}/req (agent → server) and .../resp (server → agent).
//
// The exchange:
//  1. agent → AnnounceHello: who it is, its Ed25519 identity key and an
//     X25519 key for sealing, the latter signed by the former.
//  2. server → AnnounceChallenge: a fresh random nonce bound to this MQTT
//     connection (the broker's connection serial), valid for a minute.
//  3. agent → AnnounceProof: an Ed25519 signature over the nonce, the client
//     ID and both keys. A proof from another connection, a reused nonce or a
//     late one is refused, so a recorded announce cannot be replayed.
//  4. server → AnnounceStatus: "pending" (shown to admins), later "approved"
//     with the credentials sealed to the X25519 key (see SealCredentials), or
//     "rejected". An approved agent that reconnects and proves its key again
//     gets the sealed credentials again, so approval while it is offline is
//     not lost.
const (
	TypeAnnounceHello     = "announce.hello"
	TypeAnnounceChallenge = "announce.challenge"
	TypeAnnounceProof     = "announce.proof"
	TypeAnnounceStatus    = "announce.status"
)

// Announce states carried by AnnounceStatus.
const (
	AnnouncePending  = "pending"
	AnnounceApproved = "approved"
	AnnounceRejected = "rejected"
)

// AnnounceHello introduces a pending agent. Host is empty in its envelope.
type AnnounceHello struct {
	Envelope
	Client        string `json:"client"` // the pending client ID, PendingID(IdentityKey)
	Hostname      string `json:"hostname"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	AgentVersion  string `json:"agent_version"`
	ResticVersion string `json:"restic_version,omitempty"`
	IdentityKey   []byte `json:"identity_key"` // Ed25519 public key, 32 bytes
	SealKey       []byte `json:"seal_key"`     // X25519 public key, 32 bytes
	SealKeySig    []byte `json:"seal_key_sig"` // Ed25519 signature over SealKeyMessage(SealKey)
}

// Validate checks the hello, including that the client ID belongs to the
// identity key and that the seal key is signed by it.
func (m *AnnounceHello) Validate() error {
	if err := m.Envelope.Validate(TypeAnnounceHello); err != nil {
		return err
	}
	if m.Host != "" {
		return errors.New("announce carries a host id")
	}
	if err := shortText(map[string]string{"hostname": m.Hostname, "os": m.OS, "arch": m.Arch,
		"agent_version": m.AgentVersion}, true); err != nil {
		return err
	}
	if err := shortText(map[string]string{"restic_version": m.ResticVersion}, false); err != nil {
		return err
	}
	if len(m.IdentityKey) != ed25519.PublicKeySize || len(m.SealKey) != 32 || len(m.SealKeySig) != ed25519.SignatureSize {
		return errors.New("announce keys have the wrong sizes")
	}
	if m.Client != PendingID(m.IdentityKey) {
		return errors.New("client id does not belong to the identity key")
	}
	if !ed25519.Verify(ed25519.PublicKey(m.IdentityKey), SealKeyMessage(m.SealKey), m.SealKeySig) {
		return errors.New("seal key is not signed by the identity key")
	}
	return nil
}

// AnnounceChallenge asks a pending agent to prove it holds its identity key.
type AnnounceChallenge struct {
	Envelope
	Nonce     []byte    `json:"nonce"` // 32 random bytes
	ExpiresAt time.Time `json:"expires_at"`
}

// Validate checks a challenge.
func (m *AnnounceChallenge) Validate() error {
	if err := m.Envelope.Validate(TypeAnnounceChallenge); err != nil {
		return err
	}
	if len(m.Nonce) != 32 || m.ExpiresAt.IsZero() {
		return errors.New("challenge needs a 32-byte nonce and an expiry")
	}
	return nil
}

// AnnounceProof answers a challenge.
type AnnounceProof struct {
	Envelope
	Client    string `json:"client"`
	Nonce     []byte `json:"nonce"`
	Signature []byte `json:"signature"` // Ed25519 over ProofMessage(Client, Nonce, SealKey)
}

// Validate checks the proof's shape; the signature is checked by the server
// against the identity key from the hello.
func (m *AnnounceProof) Validate() error {
	if err := m.Envelope.Validate(TypeAnnounceProof); err != nil {
		return err
	}
	if !ValidPendingID(m.Client) || len(m.Nonce) != 32 || len(m.Signature) != ed25519.SignatureSize {
		return errors.New("proof needs a client id, a 32-byte nonce and a signature")
	}
	return nil
}

// AnnounceStatus tells a pending agent where it stands.
type AnnounceStatus struct {
	Envelope
	State       string `json:"state"`
	Fingerprint string `json:"fingerprint,omitempty"` // as the server sees it
	Message     string `json:"message,omitempty"`     // one sentence for the agent's log
	Sealed      []byte `json:"sealed,omitempty"`      // with "approved": SealCredentials output
}

// Validate checks a status.
func (m *AnnounceStatus) Validate() error {
	if err := m.Envelope.Validate(TypeAnnounceStatus); err != nil {
		return err
	}
	switch m.State {
	case AnnouncePending, AnnounceRejected:
	case AnnounceApproved:
		if len(m.Sealed) == 0 || len(m.Sealed) > 16<<10 {
			return errors.New("approval without sealed credentials")
		}
	default:
		return fmt.Errorf("unknown announce state %q", clip(m.State))
	}
	if len(m.Message) > 1000 {
		return errors.New("message too long")
	}
	return nil
}

// SealKeyMessage is what the identity key signs to vouch for a seal key.
func SealKeyMessage(sealKey []byte) []byte {
	return append([]byte("rm-announce-v1 seal-key\x00"), sealKey...)
}

// ProofMessage is what the identity key signs to answer a challenge. It
// binds the nonce to the client ID and the seal key, so a proof cannot be
// lifted into another client's exchange.
func ProofMessage(client string, nonce, sealKey []byte) []byte {
	m := []byte("rm-announce-v1 proof\x00" + client + "\x00")
	m = append(m, nonce...)
	return append(m, sealKey...)
}

// KeyFingerprint is how a person reads an identity key: its Fingerprint,
// shown in the agent's banner and on the Pending hosts panel.
func KeyFingerprint(identityKey []byte) string { return Fingerprint(identityKey) }

// PendingID is the pending client ID that belongs to an identity key, so a
// client ID cannot be claimed with somebody else's key.
func PendingID(identityKey []byte) string {
	sum := sha256Sum(identityKey)
	b := make([]byte, 26)
	for i := range b {
		b[i] = base32Lower[sum[i]&31]
	}
	return PendingIDPrefix + string(b)
}

// ApprovedCredentials is the plaintext inside AnnounceStatus.Sealed: what an
// approved agent needs to run as a host (the same as a token enrollment gives).
type ApprovedCredentials struct {
	HostID   string `json:"host_id"`
	HostName string `json:"host_name"`
	// MQTTURL is where to connect as a host; empty means the broker the agent
	// announced through.
	MQTTURL       string `json:"mqtt_url,omitempty"`
	MQTTPassword  string `json:"mqtt_password"`
	CACert        string `json:"ca_cert"`
	CAFingerprint string `json:"ca_fingerprint"`
}

// Validate checks opened credentials before an agent writes them anywhere.
func (c *ApprovedCredentials) Validate() error {
	switch {
	case c.HostID == "":
		return errors.New("no host_id")
	case !ValidHostID(c.HostID):
		return fmt.Errorf("invalid host_id %q", clip(c.HostID))
	case len(c.MQTTURL) > MaxMQTTURL:
		return errors.New("mqtt_url too long")
	case c.MQTTPassword == "":
		return errors.New("no mqtt_password")
	case len(c.MQTTPassword) > MaxMQTTPassword:
		return errors.New("mqtt_password too long")
	case len(c.CACert) > MaxCACert:
		return errors.New("ca_cert too large")
	case len(c.CAFingerprint) > MaxMachineField:
		return errors.New("ca_fingerprint too long")
	}
	return shortText(map[string]string{"host_name": c.HostName}, true)
}
