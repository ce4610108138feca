package broker

import (
	"crypto/tls"
	"errors"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// authHook decides whether a CONNECT is accepted, and with which CONNACK a
// refusal is answered. It is the only hook that provides
// OnConnectAuthenticate: mochi accepts a client as soon as any hook says yes
// (hooks.go Hooks.OnConnectAuthenticate), so there must be no other.
//
// The decision is made in OnConnect, which mochi calls just before
// OnConnectAuthenticate (server.go attachClient). OnConnectAuthenticate can
// only say no, and mochi answers every no with "bad username or password";
// but a failure inside the server (the database busy or down) must be
// answered "server unavailable" (MQTT 5: 0x88, 3.1.1: 0x03), so the client
// retries soon and is not treated as having bad credentials. OnConnect may
// refuse with any code: it sends the CONNACK itself (mochi's SendConnack
// maps an MQTT 5 code to its 3.1.1 form) and returns the code as an error,
// on which mochi ends the connection without sending anything more.
// OnConnectAuthenticate then only reports what OnConnect decided.
//
// A client's own fault (bad credentials, anonymous, a client ID other than
// the username, a Will outside its ACL, a pending client without a
// keepalive) is answered "bad username or password" (3.1.1: "not
// authorized") whatever the check, so a client learns nothing about which
// one failed; the log line says which.
type authHook struct {
	mqtt.HookBase
	b *Broker
}

// refusal is why a CONNECT is refused and how.
type refusal struct {
	reason string
	// code is the CONNACK reason code, in its MQTT 5 form.
	code packets.Code
	// penalise counts the refusal against the source address
	// (Config.MaxAuthFailuresPerAddr). Only a client's own fault does.
	penalise bool
	err      error
}

func denied(reason string) *refusal {
	return &refusal{reason: reason, code: packets.ErrBadUsernameOrPassword, penalise: true}
}

func unavailable(reason string, err error) *refusal {
	return &refusal{reason: reason, code: packets.ErrServerUnavailable, err: err}
}

// ID names the hook in mochi's logs.
func (h *authHook) ID() string { return "rm-auth" }

// Provides declares the events this hook handles.
func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnConnectAuthenticate
}

// OnConnect decides (see decide), and sends the CONNACK of a refusal.
func (h *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	tc := connOf(cl)
	if tc == nil {
		return packets.ErrNotAuthorized // not from one of our listeners
	}
	r := h.decide(cl, tc, pk)
	// The CONNECT is decided: the connection no longer needs its
	// admission slot (admission.go).
	tc.gate.releaseSlot()
	if t, ok := tc.Conn.(*tls.Conn); ok {
		h.b.stats.tlsHandshakes.Add(1)
		if t.ConnectionState().DidResume {
			h.b.stats.tlsResumed.Add(1)
		}
	}
	if r == nil {
		tc.authorized.Store(true)
		return nil
	}
	username := string(pk.Connect.Username)
	attrs := []any{"reason", r.reason, "username", clip(username), "client_id", clip(pk.Connect.ClientIdentifier),
		"conn", tc.serial, "remote", tc.remote, "code", r.code.Code}
	if r.err != nil {
		attrs = append(attrs, "error", r.err)
	}
	switch {
	case r.code != packets.ErrServerUnavailable:
		h.b.stats.authFailures.Add(1)
		h.b.log.Warn("connection refused", attrs...)
	case r.err != nil:
		h.b.stats.unavailable.Add(1)
		h.b.log.Error("connection refused as server unavailable: the server failed; the client will retry", attrs...)
	default:
		h.b.stats.unavailable.Add(1)
		h.b.log.Warn("connection refused as server unavailable; the client will retry", attrs...)
	}
	ip := hostOf(tc.RemoteAddr())
	if r.penalise && h.b.authFails.fail(ip) {
		h.b.log.Warn("too many failed logins; refusing this address for a while",
			"remote", ip, "limit", h.b.cfg.MaxAuthFailuresPerAddr, "for", AuthFailureWindow)
	}
	if err := h.b.srv.SendConnack(cl, r.code, false, nil); err != nil {
		h.b.log.Debug("could not send the refusing CONNACK", "conn", tc.serial, "error", err)
	}
	return r.code
}

// OnConnectAuthenticate accepts exactly the connections OnConnect accepted.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	tc := connOf(cl)
	return tc != nil && tc.authorized.Load()
}

// decide checks, in order: the address is not blocked, the username is
// present, is a well-formed host/monitor/pending ID and equals the client
// ID, the Will (if any) is on a topic the client may publish to, a pending
// client asks for a keepalive, the Authenticator accepts the password for
// that same identity, and a pending client is within the pending caps. It
// returns nil to accept.
func (h *authHook) decide(cl *mqtt.Client, tc *trackedConn, pk packets.Packet) *refusal {
	ip := hostOf(tc.RemoteAddr())
	username := string(pk.Connect.Username)
	if h.b.authFails.blocked(ip) {
		r := denied("address blocked after failed logins")
		r.penalise = false
		return r
	}
	if !pk.Connect.UsernameFlag || username == "" {
		return denied("anonymous connection")
	}
	if pk.Connect.ClientIdentifier != username {
		return denied("client id differs from username")
	}
	want, err := ParseIdentity(username)
	if err != nil {
		return denied("username is not a host, monitor or pending id")
	}
	if pk.Connect.WillFlag && !canPublish(want, pk.Connect.WillTopic) {
		return denied("will topic not allowed for this client: " + clip(pk.Connect.WillTopic))
	}
	if want.Role == RolePending {
		ka := time.Duration(pk.Connect.Keepalive) * time.Second
		if ka == 0 || ka > h.b.cfg.MaxPendingKeepalive {
			return denied("a pending client must ask for a keepalive of 1 s to " + h.b.cfg.MaxPendingKeepalive.String())
		}
	}

	got, err := h.b.auth.Authenticate(username, pk.Connect.Password)
	switch {
	case errors.Is(err, ErrDenied):
		return denied("bad credentials")
	case err != nil:
		// The server failed (database busy or down...): not the client's
		// fault, so it is told to come back and not counted against the
		// address, which may be a whole site's NAT.
		return unavailable("authenticator failed", err)
	case got != want:
		h.b.log.Error("authenticator returned an identity that does not match the username; refusing",
			"username", clip(username), "role", got.Role, "id", clip(got.ID))
		r := denied("identity mismatch")
		r.penalise = false
		return r
	}

	if want.Role == RolePending {
		if r := h.b.pendingSlots.take(tc, ip); r != nil {
			return r
		}
		endWithConnection(cl)
	}
	// Only the server retains messages (monitor state). A retained Will would
	// stay in the broker forever; DESIGN §3 wants a non-retained "offline".
	cl.Properties.Will.Retain = false
	return nil
}
