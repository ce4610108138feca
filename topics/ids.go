package topics

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Identity prefixes. A connecting MQTT client's username (which must equal its
// client ID) starts with one of these, so the broker knows which table to check
// and which ACL row applies before it looks anything up.
const (
	HostIDPrefix    = "h_" // enrolled host: h_<26 base32 chars>
	MonitorPrefix   = "mon_"
	PendingIDPrefix = "p_" // announce-and-approve client (DESIGN §4.2)
)

// MaxIDLen bounds every identifier that appears as a topic level.
const MaxIDLen = 64

// ValidID reports whether s may be used as one topic level for a host, job or
// pending client: 3 to 64 characters of [a-z0-9_-], starting with a letter or
// digit. Anything that could change the topic structure ('/', '+', '#', NUL,
// whitespace, upper case confusables) is excluded.
func ValidID(s string) bool {
	if len(s) < 3 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidHostID reports whether s is a well-formed host ID (prefix h_).
func ValidHostID(s string) bool { return strings.HasPrefix(s, HostIDPrefix) && ValidID(s) }

// ValidPendingID reports whether s is a well-formed pending client ID (prefix p_).
func ValidPendingID(s string) bool { return strings.HasPrefix(s, PendingIDPrefix) && ValidID(s) }

const base32Lower = "abcdefghijklmnopqrstuvwxyz234567"

// RandomID returns prefix followed by 26 random lowercase base32 characters
// (130 bits), suitable for host IDs and other identifiers that travel in topics.
func RandomID(prefix string) string {
	var b [26]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("topics: crypto/rand failed: %v", err))
	}
	for i := range b {
		b[i] = base32Lower[b[i]&31]
	}
	return prefix + string(b[:])
}

var (
	uuidMu   sync.Mutex
	uuidLast int64
	uuidSeq  uint16
)

// NewMessageID returns a UUIDv7 string (time-ordered, random tail) for the
// envelope's id field. IDs made in the same millisecond stay ordered.
func NewMessageID() string { return newUUIDv7(time.Now()) }

func newUUIDv7(now time.Time) string {
	ms := now.UnixMilli()
	uuidMu.Lock()
	if ms <= uuidLast {
		ms = uuidLast
		uuidSeq++
	} else {
		uuidLast = ms
		uuidSeq = 0
	}
	seq := uuidSeq
	uuidMu.Unlock()

	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(ms)<<16)
	if _, err := rand.Read(u[8:]); err != nil {
		panic(fmt.Sprintf("topics: crypto/rand failed: %v", err))
	}
	u[6] = 0x70 | byte(seq>>8)&0x0f
	u[7] = byte(seq)
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
