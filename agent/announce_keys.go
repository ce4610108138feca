package agent

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/restic-manager/restic-manager/topics"
)

// Key files in state_dir, PEM-encoded PKCS#8 (`openssl pkey -in FILE
// -pubout` reads them), mode 0600.
const (
	IdentityKeyFile = "announce_identity.key" // Ed25519: who this machine is while pending
	SealKeyFile     = "announce_seal.key"     // X25519: what the server seals the credentials to
)

// AnnounceKeys are the keys a machine announces itself with (DESIGN §4.2):
// an Ed25519 identity key, whose fingerprint an admin compares before
// accepting, and an X25519 key the credentials are sealed to. They live in
// the state directory and are reused by every later announce, so the same
// machine keeps the same fingerprint and pending client ID.
type AnnounceKeys struct {
	identity ed25519.PrivateKey
	seal     *ecdh.PrivateKey
}

// LoadAnnounceKeys reads the keys from stateDir, creating whichever is
// missing (the directory with mode 0700, the files with 0600, written
// atomically). created reports whether a new identity key was made, i.e. a
// fingerprint no admin has seen yet. A key file that is unreadable, corrupt
// or readable by others is an error, never silently replaced: replacing the
// identity would change the fingerprint the admin is comparing.
//
// Two announces running at once on one state directory may both create
// keys and the last write wins; run one at a time.
func LoadAnnounceKeys(stateDir string) (keys *AnnounceKeys, created bool, err error) {
	if stateDir == "" {
		return nil, false, errors.New("announce keys: no state directory")
	}
	idPath := filepath.Join(stateDir, IdentityKeyFile)
	idKey, created, err := loadOrCreateKey(idPath, func() (any, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	})
	if err != nil {
		return nil, false, err
	}
	identity, ok := idKey.(ed25519.PrivateKey)
	if !ok {
		return nil, false, fmt.Errorf("%s holds a %T, not an Ed25519 key: restore it from a backup, or delete it (this machine then gets a new fingerprint and must be accepted again)", idPath, idKey)
	}
	sealPath := filepath.Join(stateDir, SealKeyFile)
	sealKey, _, err := loadOrCreateKey(sealPath, func() (any, error) {
		return ecdh.X25519().GenerateKey(rand.Reader)
	})
	if err != nil {
		return nil, false, err
	}
	seal, ok := sealKey.(*ecdh.PrivateKey)
	if !ok || seal.Curve() != ecdh.X25519() {
		return nil, false, fmt.Errorf("%s holds a %T, not an X25519 key: delete it and announce again (a new seal key is made; the fingerprint stays)", sealPath, sealKey)
	}
	return &AnnounceKeys{identity: identity, seal: seal}, created, nil
}

// loadOrCreateKey reads the PKCS#8 private key at path, or when there is
// none generates one with generate and writes it.
func loadOrCreateKey(path string, generate func() (any, error)) (key any, created bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		key, err := generate()
		if err != nil {
			return nil, false, fmt.Errorf("generate %s: %w", path, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, fmt.Errorf("encode %s: %w", path, err)
		}
		if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, false, fmt.Errorf("save announce key (%w): make the state directory writable or choose another with --state-dir", err)
		}
		return key, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("read announce key: %w", err)
	}
	if err := checkPrivate(path); err != nil {
		return nil, false, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("%s is not a PEM private key: restore it from a backup, or delete it to make a new one", path)
	}
	key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("%s is corrupt (%v): restore it from a backup, or delete it to make a new one", path, err)
	}
	return key, false, nil
}

// checkPrivate refuses a key file others may read, as OpenSSH does: the key
// may have been copied, and whoever holds it can pose as this machine.
func checkPrivate(path string) error {
	if runtime.GOOS == "windows" {
		return nil // permissions are ACLs there; the state directory's ACL protects the file
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("announce key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is readable by other users (mode %04o): run chmod 600 %s, or delete it if it may have been copied", path, perm, path)
	}
	return nil
}

// Fingerprint is the identity key's fingerprint ("SHA256:..."), what the
// banner shows and the dashboard's Pending hosts panel lists.
func (k *AnnounceKeys) Fingerprint() string { return topics.KeyFingerprint(k.IdentityKey()) }

// ClientID is the pending MQTT client ID (and username) of these keys.
func (k *AnnounceKeys) ClientID() string { return topics.PendingID(k.IdentityKey()) }

// IdentityKey is the Ed25519 public key.
func (k *AnnounceKeys) IdentityKey() ed25519.PublicKey {
	return k.identity.Public().(ed25519.PublicKey)
}

// SealKey is the X25519 public key the server seals the credentials to.
func (k *AnnounceKeys) SealKey() []byte { return k.seal.PublicKey().Bytes() }

// hello builds the announce hello for this machine, with the seal key
// signed by the identity key.
func (k *AnnounceKeys) hello(hostname, resticVersion string) *topics.AnnounceHello {
	return &topics.AnnounceHello{
		Envelope:      topics.NewEnvelope(topics.TypeAnnounceHello, ""),
		Client:        k.ClientID(),
		Hostname:      hostname,
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		AgentVersion:  Version,
		ResticVersion: resticVersion,
		IdentityKey:   k.IdentityKey(),
		SealKey:       k.SealKey(),
		SealKeySig:    ed25519.Sign(k.identity, topics.SealKeyMessage(k.SealKey())),
	}
}

// proof answers a challenge: a signature binding its nonce to our client ID
// and seal key.
func (k *AnnounceKeys) proof(nonce []byte) *topics.AnnounceProof {
	return &topics.AnnounceProof{
		Envelope:  topics.NewEnvelope(topics.TypeAnnounceProof, ""),
		Client:    k.ClientID(),
		Nonce:     nonce,
		Signature: ed25519.Sign(k.identity, topics.ProofMessage(k.ClientID(), nonce, k.SealKey())),
	}
}

// open decrypts credentials sealed to our seal key.
func (k *AnnounceKeys) open(sealed []byte) ([]byte, error) {
	return topics.OpenCredentials(k.seal, sealed)
}
