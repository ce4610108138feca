package broker

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// listener is our mochi listeners.Listener for plain TCP and TLS. We do not
// use mochi's listeners.TCP because each connection must be:
//   - refused at accept when its address is over a rate limit or blocked;
//   - given a deadline for its CONNECT (mochi sets none until it has read
//     CONNECT: attachClient calls refreshDeadline at server.go:442, after
//     readConnectionPacket at :413), so a silent connection cannot sit forever;
//   - run under recover(): a malformed packet can make mochi panic (v2.7.9
//     indexes past the end of a truncated MQTT 5 SUBSCRIBE, packets.go:959),
//     and a panic in a client goroutine would otherwise end the process;
//   - closed by Close, including connections that never sent CONNECT (mochi's
//     closeListenerClients only knows clients that finished CONNECT, and can
//     deadlock; see Close).
type listener struct {
	id      string
	address string
	tickets *ticketKeys // TLS only: the listener's own tls.Config and its ticket keys
	b       *Broker

	ln  net.Listener
	log *slog.Logger

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Close: connections waiting for a slot give up
	conns  map[*trackedConn]struct{}
	wg     sync.WaitGroup // one per connection goroutine
}

var _ listeners.Listener = (*listener)(nil)

func newListener(b *Broker, id, address string, tlsConfig *tls.Config) *listener {
	l := &listener{id: id, address: address, b: b, done: make(chan struct{}), conns: map[*trackedConn]struct{}{}}
	if tlsConfig != nil {
		l.tickets = newTicketKeys(tlsConfig, b.cfg.now)
	}
	return l
}

// Init binds the address (mochi calls it from AddListener).
func (l *listener) Init(*slog.Logger) error {
	l.log = l.b.log.With("listener", l.id)
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return fmt.Errorf("broker: listen %s on %s: %w", l.id, l.address, err)
	}
	l.ln = ln
	return nil
}

// ID returns the listener's mochi ID ("tcp" or "tls").
func (l *listener) ID() string { return l.id }

// Address returns the bound address (the configured one before Init).
func (l *listener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

// Protocol returns "tcp".
func (l *listener) Protocol() string { return "tcp" }

// Serve accepts connections until Close. Temporary accept errors (e.g. out of
// file descriptors) are logged and retried with a short back-off instead of
// silently ending the listener as mochi's does.
func (l *listener) Serve(establish listeners.EstablishFn) {
	backoff := 5 * time.Millisecond
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Error("accept failed; retrying", "error", err, "backoff", backoff)
			time.Sleep(backoff)
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		l.accept(raw, establish)
	}
}

// accept applies the per-address limits, wraps the connection and hands it to
// mochi in its own goroutine.
func (l *listener) accept(raw net.Conn, establish listeners.EstablishFn) {
	ip := hostOf(raw.RemoteAddr())
	if l.b.authFails.blocked(ip) {
		l.b.stats.rateLimited.Add(1)
		l.log.Debug("connection refused: address blocked after failed logins", "remote", ip)
		_ = raw.Close()
		return
	}
	if ok, first := l.b.connAttempts.allow(ip); !ok {
		l.b.stats.rateLimited.Add(1)
		if first { // one line per address per window, not one per attempt
			l.log.Warn("connection attempts over the limit; refusing this address for the rest of the minute",
				"remote", ip, "limit", l.b.cfg.MaxConnsPerAddrPerMinute)
		}
		_ = raw.Close()
		return
	}

	// The first Read waits for a slot (admission.go).
	gate := &gatedConn{Conn: raw, l: l, ip: ip}
	// Mochi reads through a bufio.Reader of its own, sized server-wide
	// (mochiReadBuffer: the smallest bufio allows), so the buffering is
	// ours, per listener: tls.Conn already keeps a decrypted record to
	// read from, and a plain connection gets a reader of its own.
	var c net.Conn
	if l.tickets != nil {
		l.tickets.refresh()
		c = tls.Server(gate, l.tickets.cfg)
	} else {
		c = &bufferedConn{Conn: gate, r: bufio.NewReaderSize(gate, plainReadBuffer)}
	}
	tc := &trackedConn{Conn: c, gate: gate, serial: l.b.serial.Add(1), remote: raw.RemoteAddr().String()}
	// The CONNECT deadline. Mochi replaces it with its keepalive deadline
	// once CONNECT has been read (clients.go refreshDeadline).
	_ = tc.SetDeadline(time.Now().Add(l.b.cfg.ConnectTimeout))

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = tc.Close()
		return
	}
	l.conns[tc] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()

	go l.serveConn(tc, establish)
}

// serveConn runs mochi's establish for one connection under recover().
func (l *listener) serveConn(tc *trackedConn, establish listeners.EstablishFn) {
	defer l.wg.Done()
	defer func() {
		tc.gate.releaseSlot()
		l.b.pendingSlots.release(tc)
		l.mu.Lock()
		delete(l.conns, tc)
		l.mu.Unlock()
	}()
	defer func() {
		if r := recover(); r != nil {
			l.b.recoverClient(tc, r, debug.Stack())
		}
	}()

	err := establish(l.id, tc)
	if cl := tc.client.Load(); cl != nil {
		// Mochi calls the OnDisconnect hooks on every path after the
		// session was established; this is a net under that, so an
		// OnConnect is never left without its OnDisconnect.
		l.b.reportDisconnect(cl, err)
	}
	switch {
	case err == nil:
	case tc.gate.waitedOut:
		l.log.Info("connection closed unread: no handshake slot in time; the client retries", "conn", tc.serial,
			"remote", tc.remote, "waited", l.b.cfg.admissionWait, "max_handshakes", l.b.cfg.MaxHandshakes)
	case isTimeout(err) && tc.client.Load() == nil:
		l.b.stats.connectTimeouts.Add(1)
		l.log.Info("connection closed: no CONNECT in time", "conn", tc.serial, "remote", tc.remote,
			"timeout", l.b.cfg.ConnectTimeout)
	case errors.Is(err, packets.ErrPacketTooLarge):
		l.b.stats.oversize.Add(1)
		l.log.Warn("connection closed: packet larger than the limit", "conn", tc.serial, "remote", tc.remote,
			"limit", l.b.cfg.MaxPacketSize)
	default:
		l.log.Debug("connection ended", "conn", tc.serial, "remote", tc.remote, "error", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops accepting, disconnects this listener's clients, closes every
// remaining connection (also those that never sent CONNECT) and waits for
// their goroutines, so mochi's ClientsWg.Wait in CloseAll returns at once.
//
// It does not call mochi's closeClients callback: that goes through
// Clients.GetByListener, which takes the clients' read lock twice
// (clients.go:93-95, RLock then Len's RLock) and deadlocks when a client's
// goroutine calls Clients.Delete in between, which is exactly what
// disconnecting clients do during shutdown. We know our connections anyway.
func (l *listener) Close(listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()

	if l.ln != nil {
		_ = l.ln.Close()
	}
	conns := l.snapshot()
	// Closing a TLS connection writes its close_notify (a seal and a
	// system call): split over the CPUs, not one after another.
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(conns))
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(conns); i += workers {
				l.closeConn(conns[i])
			}
		})
	}
	wg.Wait()
	l.wg.Wait()
	if len(conns) > 0 {
		l.log.Info("listener closed", "connections", len(conns))
	}
}

// closeConn ends one connection at shutdown. The client's Will reaches
// nobody (originHook.OnWill: the broker is closing).
func (l *listener) closeConn(tc *trackedConn) {
	// Bound the DISCONNECT write: a client that stopped reading must
	// not hold up shutdown.
	_ = tc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if cl := tc.client.Load(); cl != nil {
		if cl.Properties.ProtocolVersion == 5 {
			_ = l.b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
	_ = tc.Close()
}

func (l *listener) snapshot() []*trackedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*trackedConn, 0, len(l.conns))
	for tc := range l.conns {
		out = append(out, tc)
	}
	return out
}

// addr returns the bound address, or nil before Init.
func (l *listener) addr() net.Addr {
	if l == nil || l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}
