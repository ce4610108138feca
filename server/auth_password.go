package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters (RFC 9106's second recommendation, memory-constrained):
// 64 MiB, 3 passes, 2 lanes. Login is rare and throttled, so the cost is fine.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// PasswordHashCost is the argon2id cost of the password hashes a Service
// makes. The zero value means DefaultPasswordHashCost, which production
// always uses: no flag, setting or environment variable changes it. Only
// test fixtures (server/servertest) lower it, because one 64 MiB hash takes
// seconds under the race detector and nearly every test signs in. A hash
// records its own cost, so any Service verifies any hash.
type PasswordHashCost struct {
	Time      uint32 // passes over the memory
	MemoryKiB uint32
	Threads   uint8
}

// DefaultPasswordHashCost is the production cost (argonTime, argonMemory,
// argonThreads).
func DefaultPasswordHashCost() PasswordHashCost {
	return PasswordHashCost{Time: argonTime, MemoryKiB: argonMemory, Threads: argonThreads}
}

// orDefault is c, or the default when c is zero; argon2 needs a pass and a
// lane at least.
func (c PasswordHashCost) orDefault() PasswordHashCost {
	if c == (PasswordHashCost{}) {
		return DefaultPasswordHashCost()
	}
	c.Time, c.Threads = max(c.Time, 1), max(c.Threads, 1)
	return c
}

// belowDefault reports whether c is cheaper than production in any way.
func (c PasswordHashCost) belowDefault() bool {
	d := DefaultPasswordHashCost()
	return c.Time < d.Time || c.MemoryKiB < d.MemoryKiB || c.Threads < d.Threads
}

// MinPasswordLen is the shortest password accepted for a user.
const MinPasswordLen = 12

// Each hash holds argonMemory (64 MiB) for tens of milliseconds, so the
// number running at once is bounded process-wide (#9: 40 concurrent wrong
// sign-ins grew the server by 1-2.5 GB). hashSlots hashes run; up to
// hashQueue more wait, each at most hashWait; anything beyond is refused
// with errHashBusy at once. Waiting costs a goroutine, not 64 MiB.
var (
	hashSlots = make(chan struct{}, max(2, min(4, runtime.GOMAXPROCS(0)/2)))
	hashQueue = make(chan struct{}, 4*cap(hashSlots))
)

// hashWait is how long a password check waits for a free slot.
const hashWait = 5 * time.Second

// errHashBusy: every hash slot stayed taken; the caller is not at fault.
var errHashBusy = errors.New("password check: every hashing slot is busy")

// hashesRunning counts argon2id computations in progress; hashesPeak is its
// high-water mark (tests read it through export_test.go).
var hashesRunning, hashesPeak atomic.Int64

// idKey is argon2.IDKey, counted.
func idKey(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	now := hashesRunning.Add(1)
	defer hashesRunning.Add(-1)
	for peak := hashesPeak.Load(); now > peak && !hashesPeak.CompareAndSwap(peak, now); peak = hashesPeak.Load() {
	}
	return argon2.IDKey(pw, salt, t, m, p, n)
}

// takeHashSlot waits for a slot as a password check does: in a bounded
// queue, for at most hashWait. It returns the release function.
func takeHashSlot() (func(), error) {
	select {
	case hashSlots <- struct{}{}:
		return releaseHashSlot, nil
	default:
	}
	select {
	case hashQueue <- struct{}{}:
		defer func() { <-hashQueue }()
	default:
		return nil, errHashBusy
	}
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case hashSlots <- struct{}{}:
		return releaseHashSlot, nil
	case <-t.C:
		return nil, errHashBusy
	}
}

func releaseHashSlot() { <-hashSlots }

// hashPassword is hashPasswordCost at the Service's cost.
func (s *Service) hashPassword(pw string) (string, error) { return hashPasswordCost(pw, s.hashCost) }

// hashPasswordCost returns an argon2id hash of cost c in PHC string format.
// Only signed-in admins and users set passwords, so it waits for a hash slot
// as long as it takes.
func hashPasswordCost(pw string, c PasswordHashCost) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	hashSlots <- struct{}{}
	defer releaseHashSlot()
	key := idKey([]byte(pw), salt, c.Time, c.MemoryKiB, c.Threads, argonKeyLen)
	return phcString(c, salt, key), nil
}

// phcString encodes a salt and key made with cost c in PHC string format.
func phcString(c PasswordHashCost, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, c.MemoryKiB, c.Time, c.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// verifyPassword checks pw against a PHC argon2id hash, using the parameters
// stored in the hash so they can be raised later without breaking old hashes.
// It returns errHashBusy when no hash slot came free in time.
func verifyPassword(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash is not argon2id")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("password hash parameters: %w", err)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, err
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, err
	}
	release, err := takeHashSlot()
	if err != nil {
		return false, err
	}
	defer release()
	got := idKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// newDummyHash makes what a sign-in with an unknown name is checked against
// (Service.dummyHash), so it costs the same as one with a real name and
// timing does not reveal which names exist. A random key with the Service's
// cost needs no hashing to make.
func newDummyHash(c PasswordHashCost) func() string {
	return sync.OnceValue(func() string {
		salt, key := make([]byte, 16), make([]byte, argonKeyLen)
		_, _ = rand.Read(salt)
		_, _ = rand.Read(key)
		return phcString(c, salt, key)
	})
}

// RandomPassword returns a 20-character password for generated accounts.
func RandomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
