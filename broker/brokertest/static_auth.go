package brokertest

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"

	"github.com/restic-manager/restic-manager/broker"
)

// StaticAuth is an in-memory broker.Authenticator for tests (the broker's
// and those of the programs that connect to it). It really checks passwords: it stores a salted SHA-256 of each
// one and compares in constant time. It is not meant for production, where
// the server's Authenticator checks its database.
type StaticAuth struct {
	mu      sync.Mutex
	entries map[string]staticEntry
	// err, set by SetError, fails every Authenticate call (to test an
	// authenticator that is failing, e.g. a database that is down).
	err error
}

var _ broker.Authenticator = (*StaticAuth)(nil)

type staticEntry struct {
	id   broker.Identity
	hash [sha256.Size]byte
}

// NewStaticAuth returns an empty StaticAuth: every login is denied.
func NewStaticAuth() *StaticAuth {
	return &StaticAuth{entries: map[string]staticEntry{}}
}

// Add lets id log in with password, replacing any earlier password. It
// returns an error if id's role does not match its ID prefix (see
// broker.ParseIdentity), which the broker would refuse anyway.
func (a *StaticAuth) Add(id broker.Identity, password string) error {
	if parsed, err := broker.ParseIdentity(id.ID); err != nil || parsed != id {
		return fmt.Errorf("static auth: %s %q is not a valid identity", id.Role, id.ID)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries[id.ID] = staticEntry{id: id, hash: staticHash(id.ID, []byte(password))}
	return nil
}

// Remove revokes id: later logins are denied.
func (a *StaticAuth) Remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.entries, id)
}

// SetError makes every Authenticate fail with err (nil restores normal use).
func (a *StaticAuth) SetError(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

// Authenticate implements broker.Authenticator.
func (a *StaticAuth) Authenticate(username string, password []byte) (broker.Identity, error) {
	a.mu.Lock()
	e, ok := a.entries[username]
	err := a.err
	a.mu.Unlock()
	if err != nil {
		return broker.Identity{}, fmt.Errorf("static auth: %w", err)
	}
	got := staticHash(username, password)
	if !ok || subtle.ConstantTimeCompare(got[:], e.hash[:]) != 1 {
		return broker.Identity{}, fmt.Errorf("static auth: %q: %w", username, broker.ErrDenied)
	}
	return e.id, nil
}

// staticHash salts with the username so equal passwords hash differently.
func staticHash(username string, password []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("restic-manager broker test fixture\x00" + username + "\x00"))
	h.Write(password)
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}
