package broker

import (
	"bufio"
	"net"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// trackedConn is the net.Conn our listeners hand to mochi. It carries the
// broker-assigned connection serial, so every hook that gets a *mqtt.Client
// can tell which network connection it is about (cl.Net.Conn is this value),
// and remembers the mochi client bound to it, so the panic path can clean up
// after a connection whose goroutine died.
type trackedConn struct {
	net.Conn
	serial uint64
	remote string
	// gate is the raw connection under TLS, holding the connection's
	// admission slot until its CONNECT is decided (admission.go).
	gate *gatedConn
	// client is set once the client authenticated and its session is
	// being established (presence hook, OnSessionEstablish).
	client atomic.Pointer[mqtt.Client]
	// announced is set when OnConnect was reported for this connection, and
	// cleared by whichever path reports its OnDisconnect, so each OnConnect
	// is paired with exactly one OnDisconnect.
	announced atomic.Bool
	// authorized is set by authHook.OnConnect when it accepted the CONNECT.
	authorized atomic.Bool
	// pendingSlot is set while this connection holds one of the pending
	// clients' slots for pendingAddr (pending.go). Only the connection's own
	// goroutine touches the two.
	pendingSlot bool
	pendingAddr string
}

// connOf returns the tracked connection of a mochi client, or nil for the
// inline client and for sessions that are not attached to a connection.
func connOf(cl *mqtt.Client) *trackedConn {
	if cl == nil {
		return nil
	}
	tc, _ := cl.Net.Conn.(*trackedConn)
	return tc
}

// serialOf returns the connection serial of a mochi client (0 when none).
func serialOf(cl *mqtt.Client) uint64 {
	if tc := connOf(cl); tc != nil {
		return tc.serial
	}
	return 0
}

// Read buffers. Mochi wraps every connection in a bufio.Reader of
// Options.ClientNetReadBufferSize (2 KiB by default), allocated at connect
// and kept for the connection's life. Over TLS that duplicates tls.Conn,
// which already holds the decrypted record being read: 2 KiB per connected
// agent for nothing. The option is server-wide, so mochi's is set to the
// smallest a bufio.Reader takes, and the plain listener, which reads the
// socket directly, gets the buffer back per connection (bufferedConn) so
// it still reads a packet's header and body in one system call.
const (
	mochiReadBuffer = 16      // bufio's minimum
	plainReadBuffer = 2 << 10 // mochi's default, for plain connections
)

// bufferedConn is a plain connection read through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the buffer.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
