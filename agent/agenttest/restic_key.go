package agenttest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/poly1305" // restic's MAC is Poly1305-AES, which only this package offers in parts
	"golang.org/x/crypto/scrypt"
)

// This file is restic's repository crypto (restic's internal/crypto and the
// key file of internal/repository/key.go), the little of it a test needs to
// wrap a repository's master key under a password with other scrypt
// parameters. The real restic then opens what it writes, which is what the
// tests of InitRepository check.

// KDFParams are the scrypt parameters a restic key file records; restic
// derives the key that unwraps the master key with them on every open.
type KDFParams struct{ N, R, P int }

// resticKey is restic's crypto.Key, as `restic cat masterkey` prints it and
// a key file's data holds it: AES-256-CTR for secrecy and Poly1305-AES (an
// AES-128 key k and a Poly1305 key r) for authenticity.
type resticKey struct {
	MAC struct {
		K []byte `json:"k"`
		R []byte `json:"r"`
	} `json:"mac"`
	Encrypt []byte `json:"encrypt"`
}

// valid reports whether every part has restic's length and is not all zero
// (restic refuses a zero key).
func (k *resticKey) valid() bool {
	nonzero := func(b []byte, n int) bool {
		return len(b) == n && subtle.ConstantTimeCompare(b, make([]byte, n)) == 0
	}
	return nonzero(k.Encrypt, 32) && nonzero(k.MAC.K, 16) && nonzero(k.MAC.R, 16)
}

// resticKeyFile is the JSON of a file in a repository's keys/ directory,
// field for field as restic writes it (its name is the SHA-256 of it).
type resticKeyFile struct {
	Created  time.Time `json:"created"`
	Username string    `json:"username"`
	Hostname string    `json:"hostname"`
	KDF      string    `json:"kdf"`
	N        int       `json:"N"`
	R        int       `json:"r"`
	P        int       `json:"p"`
	Salt     []byte    `json:"salt"`
	Data     []byte    `json:"data"`
}

// deriveKey is restic's crypto.KDF: scrypt's 64 bytes are the encryption
// key, then the MAC's k and r.
func deriveKey(password string, salt []byte, p KDFParams) (*resticKey, error) {
	b, err := scrypt.Key([]byte(password), salt, p.N, p.R, p.P, 64)
	if err != nil {
		return nil, fmt.Errorf("scrypt %+v: %w", p, err)
	}
	k := &resticKey{Encrypt: b[:32]}
	k.MAC.K, k.MAC.R = b[32:48], b[48:64]
	return k, nil
}

// resticIVSize and resticMACSize frame restic's ciphertexts:
// IV || AES-256-CTR(plaintext) || Poly1305-AES tag.
const (
	resticIVSize  = aes.BlockSize
	resticMACSize = poly1305.TagSize
)

// seal encrypts and authenticates plaintext under k with a fresh IV.
func (k *resticKey) seal(plaintext []byte) []byte {
	out := make([]byte, resticIVSize+len(plaintext), resticIVSize+len(plaintext)+resticMACSize)
	iv := out[:resticIVSize]
	rand.Read(iv)
	k.ctr(iv).XORKeyStream(out[resticIVSize:], plaintext)
	tag := k.tag(iv, out[resticIVSize:])
	return append(out, tag[:]...)
}

// open checks the tag of a sealed message and decrypts it.
func (k *resticKey) open(sealed []byte) ([]byte, error) {
	if len(sealed) < resticIVSize+resticMACSize {
		return nil, errors.New("ciphertext too short")
	}
	iv, ct := sealed[:resticIVSize], sealed[resticIVSize:len(sealed)-resticMACSize]
	tag := k.tag(iv, ct)
	if subtle.ConstantTimeCompare(tag[:], sealed[len(sealed)-resticMACSize:]) != 1 {
		return nil, errors.New("ciphertext verification failed (wrong key)")
	}
	plain := make([]byte, len(ct))
	k.ctr(iv).XORKeyStream(plain, ct)
	return plain, nil
}

func (k *resticKey) ctr(iv []byte) cipher.Stream {
	block, err := aes.NewCipher(k.Encrypt)
	if err != nil {
		panic(err) // valid() checked the length
	}
	return cipher.NewCTR(block, iv)
}

// tag is Poly1305-AES as restic computes it: the one-time key is r followed
// by AES-128_k(IV).
func (k *resticKey) tag(iv, msg []byte) [poly1305.TagSize]byte {
	var oneTime [32]byte
	block, err := aes.NewCipher(k.MAC.K)
	if err != nil {
		panic(err)
	}
	copy(oneTime[:16], k.MAC.R)
	block.Encrypt(oneTime[16:], iv)
	var out [poly1305.TagSize]byte
	poly1305.Sum(&out, msg, &oneTime)
	return out
}
