package topics

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// FingerprintPrefix starts every fingerprint, as in OpenSSH's output.
const FingerprintPrefix = "SHA256:"

// fingerprintGroup is how many characters FingerprintGroups puts together.
const fingerprintGroup = 4

// Fingerprint is how a person reads, and an agent pins, a certificate or a
// key: FingerprintPrefix and the unpadded standard base64 of SHA-256 over
// data, as OpenSSH prints host keys. For a certificate, data is its DER
// (x509.Certificate.Raw): the server prints its CA's fingerprint next to
// the install command, `enroll --ca-fingerprint` pins it and the
// enrollment and bootstrap answers carry it. For an announcing agent,
// data is its identity key (KeyFingerprint).
func Fingerprint(data []byte) string {
	return FingerprintPrefix + base64.RawStdEncoding.EncodeToString(FingerprintPin(data))
}

// FingerprintPin is the digest in data's Fingerprint: what ParseFingerprint
// returns for it and FingerprintMatches compares with.
func FingerprintPin(data []byte) []byte {
	sum := sha256.Sum256(data)
	return sum[:]
}

// ParseFingerprint checks the form of a fingerprint (as a person pasted
// it: surrounding spaces and base64 padding are tolerated) and returns its
// SHA-256 digest, the pin FingerprintMatches compares with.
func ParseFingerprint(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), FingerprintPrefix)
	if !ok {
		return nil, fmt.Errorf("fingerprint %q must start with %s", clip(s), FingerprintPrefix)
	}
	sum, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q is not %s followed by 43 base64 characters", clip(s), FingerprintPrefix)
	}
	return sum, nil
}

// FingerprintMatches reports, in constant time, whether data hashes to
// the pin (a digest from ParseFingerprint).
func FingerprintMatches(data, pin []byte) bool {
	return subtle.ConstantTimeCompare(FingerprintPin(data), pin) == 1
}

// FingerprintGroups splits a fingerprint into FingerprintPrefix and groups
// of four characters, so a person can read it out on the phone without
// losing their place. Something that is not a fingerprint comes back whole.
func FingerprintGroups(fp string) []string {
	rest, ok := strings.CutPrefix(fp, FingerprintPrefix)
	if !ok {
		return []string{fp}
	}
	out := []string{FingerprintPrefix}
	for len(rest) > fingerprintGroup {
		out = append(out, rest[:fingerprintGroup])
		rest = rest[fingerprintGroup:]
	}
	return append(out, rest)
}
