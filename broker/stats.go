package broker

import "sync/atomic"

// Stats is a snapshot of the broker's counters since New, for /metrics and
// for tests. Every counter only grows.
type Stats struct {
	// Connections counts sessions established (authenticated clients).
	Connections uint64
	// AuthFailures counts CONNECTs refused for the client's fault:
	// anonymous, client ID different from the username, wrong password, a
	// Will on a topic the client may not publish to, a pending client
	// without a keepalive, or a blocked address.
	AuthFailures uint64
	// Unavailable counts CONNECTs refused with "server unavailable": the
	// Authenticator failed (the server's fault, not the client's), or the
	// pending clients' caps were reached.
	Unavailable uint64
	// DeniedPublishes counts publishes dropped by the ACL (acknowledged, not
	// delivered, the client left connected).
	DeniedPublishes uint64
	// DeniedSubscribes counts subscription filters refused in a SUBACK: not
	// on the client's allow-list, or over a limit (hook_subscribe.go).
	DeniedSubscribes uint64
	// PanicsRecovered counts panics caught around a client connection or an
	// inline subscription handler.
	PanicsRecovered uint64
	// RateLimited counts connections closed at accept because their address
	// exceeded the connection-attempt limit or is blocked after failed logins.
	RateLimited uint64
	// ConnectTimeouts counts connections closed because no CONNECT arrived
	// within Config.ConnectTimeout.
	ConnectTimeouts uint64
	// OversizePackets counts connections closed because a packet exceeded
	// Config.MaxPacketSize.
	OversizePackets uint64
	// HandshakesQueued counts connections that waited for an admission
	// slot (Config.MaxHandshakes) before their handshake or CONNECT.
	HandshakesQueued uint64
	// AdmissionTimeouts counts connections closed unread because no slot
	// came within Config.ConnectTimeout.
	AdmissionTimeouts uint64
	// TLSHandshakes counts TLS connections that sent a CONNECT, and
	// TLSResumed those of them whose handshake resumed a session (a
	// session ticket; see tls_tickets.go).
	TLSHandshakes, TLSResumed uint64
	// RetainedReplayed counts retained messages the broker sent a monitor
	// after its SUBSCRIBE itself, paced by its connection
	// (monitor_replay.go).
	RetainedReplayed uint64
}

// counters is the live, concurrently updated form of Stats.
type counters struct {
	connections, authFailures, unavailable, deniedPublishes, deniedSubscribes atomic.Uint64
	panics, rateLimited, connectTimeouts, oversize                            atomic.Uint64
	admissionTimeouts, tlsHandshakes, tlsResumed, retainedReplayed            atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Connections:      c.connections.Load(),
		AuthFailures:     c.authFailures.Load(),
		Unavailable:      c.unavailable.Load(),
		DeniedPublishes:  c.deniedPublishes.Load(),
		DeniedSubscribes: c.deniedSubscribes.Load(),
		PanicsRecovered:  c.panics.Load(),
		RateLimited:      c.rateLimited.Load(),
		ConnectTimeouts:  c.connectTimeouts.Load(),
		OversizePackets:  c.oversize.Load(),

		AdmissionTimeouts: c.admissionTimeouts.Load(),
		TLSHandshakes:     c.tlsHandshakes.Load(),
		TLSResumed:        c.tlsResumed.Load(),
		RetainedReplayed:  c.retainedReplayed.Load(),
	}
}
