package broker

import (
	"fmt"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// recoverClient handles a panic in one client's goroutine (listener.go
// serveConn). By then mochi's deferred calls in attachClient have closed the
// connection and fixed its connected-clients count, but the rest of its
// normal ending was skipped: no Will, no OnDisconnect hooks, and a
// clean-session client is left in the client map. This does those here, so a
// panicking client looks to everyone else like a client whose connection
// dropped.
func (b *Broker) recoverClient(tc *trackedConn, r any, stack []byte) {
	b.stats.panics.Add(1)
	_ = tc.Close()
	cl := tc.client.Load()
	clientID := ""
	if cl != nil {
		clientID = cl.ID
	}
	b.log.Error("recovered from a panic while serving a client; connection closed",
		"conn", tc.serial, "remote", tc.remote, "client", clip(clientID), "panic", fmt.Sprint(r), "stack", string(stack))
	if cl == nil {
		return // it never got past CONNECT
	}
	cause := fmt.Errorf("broker: panic serving client: %v", r)
	cl.Stop(cause)
	b.sendWillAfterPanic(cl)

	expire := (cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryInterval == 0) ||
		(cl.Properties.ProtocolVersion < 5 && cl.Properties.Clean)
	if expire && !cl.IsTakenOver() {
		cl.ClearInflights()
		b.srv.UnsubscribeClient(cl)
		if cur, ok := b.srv.Clients.Get(cl.ID); ok && cur == cl {
			b.srv.Clients.Delete(cl.ID)
		}
	}
	b.reportDisconnect(cl, cause)
}

// sendWillAfterPanic publishes the client's Will as mochi's sendLWT would
// have (server.go sendLWT is unexported). It is injected as a QoS 0 publish
// from the client itself, so the hooks run (ACL, origin stamp) and the
// inline handlers see the client's ID and connection serial; QoS 0 because
// the client cannot take a PUBACK any more. A Will delay is not honoured.
func (b *Broker) sendWillAfterPanic(cl *mqtt.Client) {
	if !atomic.CompareAndSwapUint32(&cl.Properties.Will.Flag, 1, 0) {
		return
	}
	w := cl.Properties.Will
	err := b.srv.InjectPacket(cl, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   w.TopicName,
		Payload:     w.Payload,
		Properties:  packets.Properties{User: w.User},
	})
	if err != nil {
		b.log.Warn("could not publish the will of a client that panicked", "client", clip(cl.ID), "error", err)
	}
}
