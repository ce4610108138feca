package broker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/restic-manager/restic-manager/topics"
)

// Role says which row of the ACL (DESIGN §3) a connected client falls under.
// The zero value is not a role: a client without one may do nothing.
type Role int

// The roles a connecting client can have. The role is fixed by the prefix of
// the client's ID (topics.HostIDPrefix, topics.MonitorPrefix,
// topics.PendingIDPrefix) and must agree with what the Authenticator says.
const (
	RoleHost    Role = iota + 1 // an enrolled host: h_...
	RoleMonitor                 // a read-only monitoring account: mon_...
	RolePending                 // an announce-and-approve client waiting for approval: p_...
)

// String returns the role's name for logs.
func (r Role) String() string {
	switch r {
	case RoleHost:
		return "host"
	case RoleMonitor:
		return "monitor"
	case RolePending:
		return "pending"
	default:
		return "unknown"
	}
}

// Identity is who an authenticated MQTT client is. ID is at once the MQTT
// username and the MQTT client ID (the broker refuses a connection where the
// two differ, so one host cannot take over another's session).
type Identity struct {
	Role Role
	ID   string
}

// ErrDenied is what an Authenticator returns (possibly wrapped) when the
// credentials are wrong, unknown or revoked. Any other error is treated as the
// authenticator failing (the connection is refused too, but the source
// address is not penalised for it).
var ErrDenied = errors.New("broker: credentials denied")

// Authenticator checks a client's credentials. It is implemented by the
// server package (the broker never imports it). Authenticate is called once
// per CONNECT, after the broker has checked that the username is a
// well-formed ID equal to the client ID; it must return the Identity for
// username, or an error wrapping ErrDenied. It is called concurrently.
type Authenticator interface {
	Authenticate(username string, password []byte) (Identity, error)
}

// ParseIdentity returns the Identity a username stands for, judged by its
// prefix alone: h_ → RoleHost, mon_ → RoleMonitor, p_ → RolePending. The ID
// must also be usable as one topic level (topics.ValidID). An Authenticator
// can use it to pick the table to look the username up in.
func ParseIdentity(username string) (Identity, error) {
	switch {
	case topics.ValidHostID(username):
		return Identity{Role: RoleHost, ID: username}, nil
	case topics.ValidPendingID(username):
		return Identity{Role: RolePending, ID: username}, nil
	case strings.HasPrefix(username, topics.MonitorPrefix) && len(username) > len(topics.MonitorPrefix) &&
		topics.ValidID(username):
		return Identity{Role: RoleMonitor, ID: username}, nil
	}
	return Identity{}, fmt.Errorf("broker: username %q is not a host, monitor or pending client ID", clip(username))
}

// clip shortens untrusted strings before they go into a log line or an error
// and replaces control characters, so a client cannot forge log lines.
func clip(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
