package broker

import (
	"context"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// presenceHook reports connections and disconnections (Config.OnConnect,
// Config.OnDisconnect) with their connection serial, and tidies up expired
// sessions.
type presenceHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *presenceHook) ID() string { return "rm-presence" }

// Provides declares the events this hook handles.
func (h *presenceHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnClientExpired:
		return true
	}
	return false
}

// OnSessionEstablish binds the authenticated client to its connection, so
// the panic path (recover.go) can find it.
func (h *presenceHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if tc := connOf(cl); tc != nil {
		tc.client.Store(cl)
	}
}

// OnSessionEstablished reports the connection: CONNACK has been sent and
// mochi has not yet read any packet after CONNECT.
func (h *presenceHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	tc := connOf(cl)
	id, ok := identityOf(cl)
	if tc == nil || !ok {
		return
	}
	tc.announced.Store(true)
	h.b.stats.connections.Add(1)
	h.b.log.Info("client connected", "client", id.ID, "role", id.Role, "conn", tc.serial, "remote", tc.remote,
		"mqtt", cl.Properties.ProtocolVersion, "clean", pk.Connect.Clean, "keepalive", pk.Connect.Keepalive)
	if h.b.cfg.OnConnect != nil {
		h.b.cfg.OnConnect(id, tc.serial, tc.remote)
	}
}

// OnDisconnect reports the end of a connection that was reported connected.
func (h *presenceHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	h.b.reportDisconnect(cl, err)
}

// OnClientExpired removes an expired session's subscriptions from the topic
// index. Mochi only drops the client from its client map
// (server.go clearExpiredClients), leaving its filters in the index.
func (h *presenceHook) OnClientExpired(cl *mqtt.Client) {
	h.b.srv.UnsubscribeClient(cl)
	h.b.log.Info("session expired", "client", clip(cl.ID))
}

// reportDisconnect calls Config.OnDisconnect once per reported connection,
// whichever path (mochi's OnDisconnect hook or the panic path) gets there
// first.
func (b *Broker) reportDisconnect(cl *mqtt.Client, cause error) {
	tc := connOf(cl)
	if tc == nil || !tc.announced.CompareAndSwap(true, false) {
		return
	}
	id, _ := identityOf(cl)
	attrs := []any{"client", id.ID, "role", id.Role, "conn", tc.serial}
	if cause == nil {
		cause = cl.StopCause() // e.g. "session takeover", "disconnect"
	}
	if cause != nil {
		attrs = append(attrs, "cause", cause)
	}
	// At shutdown one line per listener says how many were closed
	// (listener.Close), not one per client.
	level := slog.LevelInfo
	if b.closing.Load() {
		level = slog.LevelDebug
	}
	b.log.Log(context.Background(), level, "client disconnected", attrs...)
	if b.cfg.OnDisconnect != nil {
		b.cfg.OnDisconnect(id, tc.serial)
	}
}
