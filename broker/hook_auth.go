package broker

import (
	"errors"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// authHook decides whether a CONNECT is accepted. It is the only hook that
// provides OnConnectAuthenticate: mochi accepts a client as soon as any hook
// says yes (hooks.go Hooks.OnConnectAuthenticate), so there must be no other.
//
// Refused connections get CONNACK "bad username or password" (3.1.1: "not
// authorized") whatever the reason, so a client learns nothing about which
// check failed; the log line says which.
type authHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *authHook) ID() string { return "rm-auth" }

// Provides declares the single event this hook handles.
func (h *authHook) Provides(b byte) bool { return b == mqtt.OnConnectAuthenticate }

// OnConnectAuthenticate checks, in order: the address is not blocked, the
// username is present, is a well-formed host/monitor/pending ID and equals
// the client ID, the Will (if any) is on a topic the client may publish to,
// and the Authenticator accepts the password for that same identity.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	tc := connOf(cl)
	if tc == nil {
		return false // not from one of our listeners
	}
	ip := hostOf(tc.RemoteAddr())
	username := string(pk.Connect.Username)
	refuse := func(reason string, penalise bool, err error) bool {
		h.b.stats.authFailures.Add(1)
		attrs := []any{"reason", reason, "username", clip(username), "client_id", clip(pk.Connect.ClientIdentifier),
			"conn", tc.serial, "remote", tc.remote}
		if err != nil {
			attrs = append(attrs, "error", err)
		}
		h.b.log.Warn("connection refused", attrs...)
		if penalise && h.b.authFails.fail(ip) {
			h.b.log.Warn("too many failed logins; refusing this address for a while",
				"remote", ip, "limit", h.b.cfg.MaxAuthFailuresPerAddr, "for", AuthFailureWindow)
		}
		return false
	}

	if h.b.authFails.blocked(ip) {
		return refuse("address blocked after failed logins", false, nil)
	}
	if !pk.Connect.UsernameFlag || username == "" {
		return refuse("anonymous connection", true, nil)
	}
	if pk.Connect.ClientIdentifier != username {
		return refuse("client id differs from username", true, nil)
	}
	want, err := ParseIdentity(username)
	if err != nil {
		return refuse("username is not a host, monitor or pending id", true, nil)
	}
	if pk.Connect.WillFlag && !canPublish(want, pk.Connect.WillTopic) {
		return refuse("will topic not allowed for this client: "+clip(pk.Connect.WillTopic), true, nil)
	}

	got, err := h.b.auth.Authenticate(username, pk.Connect.Password)
	switch {
	case errors.Is(err, ErrDenied):
		return refuse("bad credentials", true, nil)
	case err != nil:
		// The server failed (database down...): refuse, but do not count it
		// against the address, which may be a whole site's NAT.
		return refuse("authenticator failed", false, err)
	case got != want:
		h.b.log.Error("authenticator returned an identity that does not match the username; refusing",
			"username", clip(username), "role", got.Role, "id", clip(got.ID))
		return refuse("identity mismatch", false, nil)
	}

	// Only the server retains messages (monitor state). A retained Will would
	// stay in the broker forever; DESIGN §3 wants a non-retained "offline".
	cl.Properties.Will.Retain = false
	return true
}
