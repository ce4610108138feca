package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyEnv names the environment variable that, when set, holds the master
// key (base64, 32 bytes) instead of data/master.key. Operators who keep the key
// in a secret manager use it so that a copy of the data directory alone cannot
// decrypt anything.
const MasterKeyEnv = "RM_MASTER_KEY"

// sealedPrefix versions the sealed format so the algorithm can change later.
const sealedPrefix = "rmv1:"

// SecretBox seals and opens secrets at rest (AES-256-GCM under the master key).
// Each value is bound to an "additional data" string naming where it lives
// (e.g. "settings:ca_key"), so a sealed value copied into another column does
// not open there.
type SecretBox struct {
	aead cipher.AEAD
}

// NewSecretBox makes a box from a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretbox: master key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// LoadOrCreateMasterKey returns the box for RM_MASTER_KEY when set, otherwise
// for dataDir/master.key, creating that file (mode 0600) on first start.
func LoadOrCreateMasterKey(dataDir string) (*SecretBox, error) {
	if v := strings.TrimSpace(os.Getenv(MasterKeyEnv)); v != "" {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %s is not base64: %w", MasterKeyEnv, err)
		}
		return NewSecretBox(key)
	}
	path := filepath.Join(dataDir, "master.key")
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("secretbox: %s is corrupt (not base64): %w", path, err)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("secretbox: %s is readable by others (mode %v); run chmod 600 on it", path, fi.Mode().Perm())
		}
		return NewSecretBox(key)
	case errors.Is(err, os.ErrNotExist):
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("secretbox: create %s: %w", dataDir, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("secretbox: create %s: %w", path, err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		serr := f.Sync()
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil || serr != nil {
			return nil, fmt.Errorf("secretbox: write %s: %w", path, errors.Join(werr, serr))
		}
		return NewSecretBox(key)
	default:
		return nil, fmt.Errorf("secretbox: read %s: %w", path, err)
	}
}

// Seal encrypts plaintext for the place named by aad.
func (b *SecretBox) Seal(plaintext []byte, aad string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("secretbox: crypto/rand failed: %v", err))
	}
	out := append([]byte(sealedPrefix), nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(aad))
}

// Open decrypts a value made by Seal for the same aad.
func (b *SecretBox) Open(sealed []byte, aad string) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(sealed), sealedPrefix)
	ns := b.aead.NonceSize()
	if !ok || len(rest) < ns+b.aead.Overhead() {
		return nil, errors.New("secretbox: not a sealed value")
	}
	pt, err := b.aead.Open(nil, []byte(rest[:ns]), []byte(rest[ns:]), []byte(aad))
	if err != nil {
		return nil, errors.New("secretbox: cannot open sealed value (wrong master key, or the value was moved or altered)")
	}
	return pt, nil
}
