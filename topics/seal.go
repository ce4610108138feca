package topics

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealInfo separates this use of HKDF from any other.
const sealInfo = "rm-announce-v1 sealed credentials"

// SealCredentials encrypts plaintext so that only the holder of the X25519
// private key for sealKey can read it: an ephemeral X25519 key agreement,
// HKDF-SHA256, then AES-256-GCM. The output is ephemeral public key (32) ||
// nonce (12) || ciphertext. A client that took over a pending client ID sees
// the sealed bytes and learns nothing.
func SealCredentials(sealKey, plaintext []byte) ([]byte, error) {
	peer, err := ecdh.X25519().NewPublicKey(sealKey)
	if err != nil {
		return nil, fmt.Errorf("seal: bad seal key: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	aead, err := sealAEAD(eph, peer, eph.PublicKey().Bytes(), sealKey)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(eph.PublicKey().Bytes(), nonce...)
	return aead.Seal(out, nonce, plaintext, nil), nil
}

// OpenCredentials reverses SealCredentials with the X25519 private key.
func OpenCredentials(priv *ecdh.PrivateKey, sealed []byte) ([]byte, error) {
	if len(sealed) < 32+12+16 {
		return nil, errors.New("open: sealed credentials too short")
	}
	ephPub, err := ecdh.X25519().NewPublicKey(sealed[:32])
	if err != nil {
		return nil, fmt.Errorf("open: bad ephemeral key: %w", err)
	}
	aead, err := sealAEAD(priv, ephPub, sealed[:32], priv.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, sealed[32:44], sealed[44:], nil)
	if err != nil {
		return nil, errors.New("open: the credentials were not sealed to this key")
	}
	return pt, nil
}

func sealAEAD(priv *ecdh.PrivateKey, pub *ecdh.PublicKey, ephPub, recipient []byte) (cipher.AEAD, error) {
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("seal: key agreement: %w", err)
	}
	salt := append(append([]byte{}, ephPub...), recipient...)
	key, err := hkdf.Key(sha256.New, shared, salt, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
